-- Scale part (bench/scale.sh): the churn writer, run rate-limited (pgbench -R) beside the gate:
-- one key created by the owner of merchant 0, whose keys the gate never presents.
BEGIN;
SELECT billium.billium_act_as(:churn_owner);
SELECT id FROM billium.billium_create_api_key(:churn_merchant, 'sk', '{*}', 'churn');
COMMIT;
