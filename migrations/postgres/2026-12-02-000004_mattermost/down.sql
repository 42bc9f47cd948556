DROP TABLE mm_posts;
DROP TABLE mm_channel_members;
DROP TABLE mm_channels;
DROP TABLE mm_team_members;
DROP TABLE mm_teams;
DROP TABLE mm_sessions;
DROP TABLE mm_users;
