/*
 * billium 0.5.0 -> 0.6.0.  The install script of 0.6.0 is built from the topic files of sql/;
 * this diff brings a 0.5.0 database to the same objects.  Each change goes under a comment
 * naming its topic.
 */

\echo Use "ALTER EXTENSION billium UPDATE TO '0.6.0'" to load this file. \quit
