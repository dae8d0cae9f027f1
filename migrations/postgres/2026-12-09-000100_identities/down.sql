DROP TABLE auth.oauth_flows;
DROP TABLE auth.identities;
