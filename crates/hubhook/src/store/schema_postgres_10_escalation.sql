-- Version 10: hotel operations (CONTRACT.md section 6), as schema_sqlite_10_escalation.sql.
-- Escalation: a hotel's escalate-after, and per task its priority, the reasons it escalated for and
-- its next escalation deadline; the default catalog's departments and service levels for hotels
-- made before them.

-- Seconds a task may stay open before it escalates; 0: never for that reason.
ALTER TABLE hotels ADD COLUMN escalate_after_secs INTEGER NOT NULL DEFAULT 600;
ALTER TABLE tasks ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';
-- A bit per reason fired: 1 unaccepted, 2 overdue (domain/escalation.rs).
ALTER TABLE tasks ADD COLUMN escalations INTEGER NOT NULL DEFAULT 0;
-- The earliest pending escalation deadline, NULL when none is pending: the checker reads only the
-- rows of this index that are due, however many tasks are open. Tasks made before this version
-- have none (escalating a backlog of old tasks at once on the upgrade would help nobody).
ALTER TABLE tasks ADD COLUMN escalate_at TEXT;
CREATE INDEX tasks_escalating ON tasks (escalate_at) WHERE escalate_at IS NOT NULL;

-- GET /api/v1/tasks?department=: a department's tasks, newest first.
CREATE INDEX tasks_by_department ON tasks (hotel_id, department, seq);
-- GET /api/v1/tasks?overdue=true: the hotel's unfinished tasks that have a due time, newest first
-- (those not yet due are passed over: the recent ones, few).
CREATE INDEX tasks_open_due ON tasks (hotel_id, seq)
    WHERE due_at IS NOT NULL AND status NOT IN ('done', 'cancelled');

-- The default catalog's departments and service levels (domain/catalog.rs, which a test compares
-- with this list), for entries made before them: only where an entry has none, and only for an
-- entry that is still the default service (same external ID and name; a renamed one is the
-- hotel's own). Their hotels' configuration versions move, so every cache reloads them.
CREATE TEMPORARY TABLE default_services (external_id TEXT, name TEXT, department TEXT, sla INTEGER);
INSERT INTO default_services (external_id, name, department, sla) VALUES
    ('2', 'Change bed sheets', 'Housekeeping', 45),
    ('3', 'Request cleaning', 'Housekeeping', 60),
    ('4', 'Serve towels', 'Housekeeping', 20),
    ('5', 'Check minibar', 'Food & Beverage', 30),
    ('6', 'Serve pillows', 'Housekeeping', 20),
    ('7', 'Serve amenities', 'Housekeeping', 20),
    ('8', 'Install baby cot', 'Housekeeping', 30),
    ('9', 'Install extra bed', 'Housekeeping', 45),
    ('10', 'Deep cleaning', 'Housekeeping', 120),
    ('11', 'Taps purge', 'Maintenance', 60),
    ('12', 'Turndown service', 'Housekeeping', 45),
    ('13', 'Other task', 'Front Office', 30),
    ('14', 'Zip beds', 'Housekeeping', 45),
    ('15', 'Separate beds', 'Housekeeping', 45),
    ('16', 'Room service tray', 'Food & Beverage', 15),
    ('17', 'Check', 'Maintenance', 30),
    ('18', 'Review', 'Front Office', 30),
    ('19', 'Ventilate', 'Housekeeping', 30),
    ('20', 'Minibar restocking', 'Food & Beverage', 30),
    ('21', 'Bellboy', 'Front Office', 10),
    ('22', 'Luggage', 'Front Office', 15),
    ('23', 'Ice bucket', 'Food & Beverage', 15),
    ('24', 'Laundry', 'Housekeeping', 30),
    ('25', 'Valet', 'Front Office', 15),
    ('26', 'Security', 'Security', 5);
UPDATE hotels SET config_version = config_version + 1
WHERE id IN (SELECT c.hotel_id FROM catalog c JOIN default_services d
                 ON d.external_id = c.external_id AND d.name = c.name
             WHERE c.department IS NULL OR c.sla_minutes IS NULL);
UPDATE catalog SET
    department = coalesce(department,
        (SELECT d.department FROM default_services d
         WHERE d.external_id = catalog.external_id AND d.name = catalog.name)),
    sla_minutes = coalesce(sla_minutes,
        (SELECT d.sla FROM default_services d
         WHERE d.external_id = catalog.external_id AND d.name = catalog.name))
WHERE (department IS NULL OR sla_minutes IS NULL)
  AND EXISTS (SELECT 1 FROM default_services d
              WHERE d.external_id = catalog.external_id AND d.name = catalog.name);
DROP TABLE default_services;
