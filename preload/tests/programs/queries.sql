-- inserts and queries for the preload tests and benchmark (sqlite3 :memory: < queries.sql)
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, payload BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
INSERT INTO t SELECT i, 'name-' || i || '-' || printf('%04x', (i * 2654435761) % 65536), i % 97, zeroblob(i % 300) FROM n;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp);
SELECT grp, count(*), sum(length(payload)) FROM t GROUP BY grp ORDER BY grp LIMIT 5;
SELECT count(*) FROM t a JOIN t b ON a.grp = b.grp AND a.id < b.id AND b.id - a.id < 200;
SELECT name FROM t WHERE name LIKE 'name-4242%' ORDER BY name;
UPDATE t SET name = upper(name) WHERE id % 3 = 0;
SELECT count(DISTINCT name), max(name) FROM t;
DELETE FROM t WHERE grp < 50;
SELECT count(*), group_concat(id, ',') IS NOT NULL FROM t;
