DROP TABLE mm_status;
