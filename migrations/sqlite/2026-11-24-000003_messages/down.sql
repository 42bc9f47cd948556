DROP TABLE messages;
DROP TABLE community_members;
DROP TABLE communities;
