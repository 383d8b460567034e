-- Version 11: the hotel settings of CONTRACT.md sections 6 and 7 that the features built on them
-- read (hotel set --merge-window, --shift-ends, --archive-after; the settings page).

-- Seconds within which a second order for the same room and service grows the open task instead of
-- making another (section 7); 0: never merge. Default 10 minutes.
ALTER TABLE hotels ADD COLUMN merge_window_secs INTEGER NOT NULL DEFAULT 600;
-- Local wall-clock times at which a shift ends and its report is sent, `07:00,15:00,23:00`
-- (domain/time.rs); empty: none.
ALTER TABLE hotels ADD COLUMN shift_ends TEXT NOT NULL DEFAULT '';
-- Seconds after which a task left unfinished is archived off the board (kept, with its history, in
-- the API); 0: never.
ALTER TABLE hotels ADD COLUMN archive_after_secs INTEGER NOT NULL DEFAULT 0;
