/*
 * billium 0.5.0 -> 0.6.0.  The install script of 0.6.0 is built from the topic files of sql/;
 * this diff brings a 0.5.0 database to the same objects.  Each change goes under a comment
 * naming its topic.
 */

\echo Use "ALTER EXTENSION billium UPDATE TO '0.6.0'" to load this file. \quit

------------------------------------------------------------------------------------------------
-- Test fixtures: out of the production extension.  billium_test_user, _merchant, _member and
-- _key write past the policies; the test-only extension billium_test (test/) has them now.
------------------------------------------------------------------------------------------------

DROP FUNCTION @extschema@.billium_test_key(uuid, text, @extschema@.billium_permset);
DROP FUNCTION @extschema@.billium_test_member(uuid, text, text);
DROP FUNCTION @extschema@.billium_test_merchant(text, text);
DROP FUNCTION @extschema@.billium_test_user(text);
