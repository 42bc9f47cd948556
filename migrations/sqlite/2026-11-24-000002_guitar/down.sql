DROP TABLE practice_logs;
DROP TABLE guitar_members;
DROP TABLE guitar_sessions;
