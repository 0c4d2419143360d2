//! The disk spool: where batches wait while the store is down, so that the agent never loses a point
//! (DESIGN.md §6).
//!
//! - **Layout**: numbered segment files (`00000000000000000001.seg`, …) of records, appended in order, and a
//!   `cursor` file naming the next record to replay. A record is `len: u32 | crc32: u32 | points: u32 |
//!   payload` (little-endian; the checksum covers the point count and the payload; the payload is
//!   [`codec`]).
//! - **Durability**: every append is followed by `fdatasync`, so a batch the writer handed to the spool
//!   survives a crash or power loss. The cursor is replaced atomically (write, sync, rename) after each
//!   replayed record, so a crash repeats at most one record, which both stores ignore as a duplicate.
//! - **Bound**: at most `max_bytes` on disk. To make room, the oldest segment is deleted whole; its points
//!   not yet replayed are counted as dropped and the caller logs them.
//! - **Damage**: at open, every segment is checked record by record. A torn or corrupt record (a crash in
//!   the middle of an append) ends the segment's valid part: it is reported, the rest of that file is cut
//!   off, and every record before it is kept.
//!
//! The spool does blocking file I/O; the writer calls it from tokio's blocking pool.

pub mod codec;

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use watchpost_core::model::Point;

const HEADER: u64 = 12;
/// A record larger than this is not believed (a damaged length field).
const MAX_RECORD: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("a batch of {bytes} bytes is larger than the whole spool (agent.spool.max_bytes = {max})")]
    TooLarge { bytes: u64, max: u64 },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io { path: path.display().to_string(), source }
}

#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    pub max_bytes: u64,
    /// Size at which a new segment is started (and the unit in which old data is dropped).
    pub segment_bytes: u64,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    offset: u64,
    len: u64,
    points: u64,
}

#[derive(Debug)]
struct Segment {
    seq: u64,
    path: PathBuf,
    bytes: u64,
    records: Vec<Record>,
}

/// What [`Spool::open`] found.
#[derive(Debug, Default)]
pub struct OpenReport {
    pub records: u64,
    pub points: u64,
    /// One line per damaged segment: which file, where, how much was cut off.
    pub damaged: Vec<String>,
}

/// A record handed out for replay; pass it back to [`Spool::commit`] once the store has it.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    seq: u64,
    index: usize,
}

pub struct Spool {
    cfg: SpoolConfig,
    segments: VecDeque<Segment>,
    /// Append handle of the newest segment, if it takes more records.
    active: Option<File>,
    /// Next record to replay: segment sequence number and record index in it.
    cursor: (u64, usize),
    next_seq: u64,
}

fn segment_name(seq: u64) -> String {
    format!("{seq:020}.seg")
}

/// Reads the valid records of a segment; the second value is the offset where damage starts, if any.
fn scan(path: &Path) -> Result<(Vec<Record>, u64, Option<u64>), SpoolError> {
    let mut data = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut data)).map_err(io(path))?;
    let mut records = Vec::new();
    let mut off = 0u64;
    let total = data.len() as u64;
    while off < total {
        match check(&data[off as usize..]) {
            Some((len, points)) => {
                records.push(Record { offset: off, len, points });
                off += len;
            }
            None => return Ok((records, off, Some(off))),
        }
    }
    Ok((records, off, None))
}

/// Validates one record at the start of `b`: `(record length, points)`.
fn check(b: &[u8]) -> Option<(u64, u64)> {
    let len = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?) as u64;
    let crc = u32::from_le_bytes(b.get(4..8)?.try_into().ok()?);
    if !(4..=MAX_RECORD).contains(&len) {
        return None;
    }
    let body = b.get(8..8 + len as usize)?; // the point count and the payload
    (crc32fast::hash(body) == crc).then(|| (8 + len, u32::from_le_bytes([body[0], body[1], body[2], body[3]]) as u64))
}

impl Spool {
    /// Opens (creating) the spool directory, checks every segment, and resumes at the saved cursor.
    pub fn open(cfg: SpoolConfig) -> Result<(Spool, OpenReport), SpoolError> {
        std::fs::create_dir_all(&cfg.dir).map_err(io(&cfg.dir))?;
        let mut seqs: Vec<u64> = std::fs::read_dir(&cfg.dir)
            .map_err(io(&cfg.dir))?
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
            .collect();
        seqs.sort_unstable();
        let mut report = OpenReport::default();
        let mut segments = VecDeque::new();
        for seq in seqs {
            let path = cfg.dir.join(segment_name(seq));
            let (records, valid, damage) = scan(&path)?;
            if let Some(at) = damage {
                let size = std::fs::metadata(&path).map_err(io(&path))?.len();
                report.damaged.push(format!(
                    "{}: torn or corrupt record at byte {at}; {} byte(s) after it skipped, the {} record(s) before it kept",
                    path.display(),
                    size - at,
                    records.len()
                ));
                OpenOptions::new().write(true).open(&path).and_then(|f| f.set_len(valid)).map_err(io(&path))?;
            }
            segments.push_back(Segment { seq, path, bytes: valid, records });
        }
        let mut spool = Spool { cfg, segments, active: None, cursor: (0, 0), next_seq: 1 };
        // Numbering never goes back below the saved cursor: after a replay deleted every segment, a new
        // segment numbered 1 under a cursor naming a later one would count as replayed and be deleted unread.
        let saved = spool.saved_cursor().map_or(0, |(seq, _)| seq);
        spool.next_seq = spool.segments.back().map_or(1, |s| s.seq + 1).max(saved.saturating_add(1));
        spool.cursor = spool.read_cursor();
        spool.discard_replayed()?;
        for s in &spool.segments {
            let from = if s.seq == spool.cursor.0 { spool.cursor.1 } else { 0 };
            for r in &s.records[from.min(s.records.len())..] {
                report.records += 1;
                report.points += r.points;
            }
        }
        Ok((spool, report))
    }

    fn cursor_path(&self) -> PathBuf {
        self.cfg.dir.join("cursor")
    }

    /// The cursor file as written, if it is readable. A missing or damaged one means "replay everything":
    /// a repeat is harmless (both stores ignore duplicates), a skip is not.
    fn saved_cursor(&self) -> Option<(u64, usize)> {
        let text = std::fs::read_to_string(self.cursor_path()).ok()?;
        let mut it = text.split_whitespace().map(|v| v.parse::<u64>().ok());
        match (it.next().flatten(), it.next().flatten()) {
            (Some(seq), Some(index)) => Some((seq, usize::try_from(index).ok()?)),
            _ => None,
        }
    }

    fn read_cursor(&self) -> (u64, usize) {
        let first = self.segments.front().map_or(0, |s| s.seq);
        match self.saved_cursor() {
            Some((seq, index)) if seq >= first => (seq, index),
            _ => (first, 0),
        }
    }

    fn write_cursor(&self) -> Result<(), SpoolError> {
        let path = self.cursor_path();
        let tmp = self.cfg.dir.join("cursor.tmp");
        let text = format!("{} {}\n", self.cursor.0, self.cursor.1);
        File::create(&tmp).and_then(|mut f| f.write_all(text.as_bytes()).and_then(|_| f.sync_data())).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }

    /// Deletes segments whose every record has been replayed.
    fn discard_replayed(&mut self) -> Result<(), SpoolError> {
        while let Some(front) = self.segments.front() {
            let done = front.seq < self.cursor.0 || (front.seq == self.cursor.0 && self.cursor.1 >= front.records.len());
            if !done {
                break;
            }
            let is_newest = self.segments.len() == 1;
            if is_newest && front.seq == self.cursor.0 && self.active.is_some() {
                // The segment being appended to: keep writing to it; it goes once a newer one exists.
                break;
            }
            let seg = self.segments.pop_front().expect("front exists"); // ok: checked by the loop condition
            self.active = if is_newest { None } else { self.active.take() };
            std::fs::remove_file(&seg.path).map_err(io(&seg.path))?;
            if self.cursor.0 <= seg.seq {
                self.cursor = (self.segments.front().map_or(self.next_seq, |s| s.seq), 0);
            }
        }
        Ok(())
    }

    /// Points and bytes waiting for replay.
    pub fn pending(&self) -> (u64, u64) {
        let mut points = 0;
        for s in &self.segments {
            let from = if s.seq == self.cursor.0 {
                self.cursor.1
            } else if s.seq < self.cursor.0 {
                usize::MAX
            } else {
                0
            };
            points += s.records.get(from..).map_or(0, |rs| rs.iter().map(|r| r.points).sum::<u64>());
        }
        (points, self.segments.iter().map(|s| s.bytes).sum())
    }

    pub fn is_empty(&self) -> bool {
        self.pending().0 == 0
    }

    /// Appends a batch and syncs it to disk. Returns how many older points were dropped to make room.
    pub fn append(&mut self, points: &[Point]) -> Result<u64, SpoolError> {
        let mut payload = Vec::with_capacity(points.len() * 80 + 4);
        payload.extend_from_slice(&(points.len() as u32).to_le_bytes());
        codec::encode(points, &mut payload);
        let len = payload.len() as u64 + 8;
        if len > self.cfg.max_bytes {
            return Err(SpoolError::TooLarge { bytes: len, max: self.cfg.max_bytes });
        }
        let mut dropped = 0;
        while self.pending().1 + len > self.cfg.max_bytes {
            dropped += self.drop_oldest()?;
        }
        let rotate = self.active.is_none() || self.segments.back().is_none_or(|s| s.bytes + len > self.cfg.segment_bytes);
        if rotate {
            let seq = self.next_seq;
            self.next_seq += 1;
            let path = self.cfg.dir.join(segment_name(seq));
            let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
            self.active = Some(file);
            self.segments.push_back(Segment { seq, path, bytes: 0, records: Vec::new() });
            if self.segments.len() == 1 {
                // The only segment: replay starts at its first record. Said on disk before the first record
                // is, so that no start can read an older cursor against this segment.
                self.cursor = (seq, 0);
                self.write_cursor()?;
            }
            self.discard_replayed()?;
        }
        let seg = self.segments.back_mut().expect("a segment was just ensured"); // ok: rotate guarantees one
        let file = self.active.as_mut().expect("an active segment was just ensured"); // ok: as above
        let mut record = Vec::with_capacity(len as usize);
        record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        record.extend_from_slice(&payload);
        file.write_all(&record).and_then(|_| file.sync_data()).map_err(io(&seg.path))?;
        seg.records.push(Record { offset: seg.bytes, len, points: points.len() as u64 });
        seg.bytes += len;
        Ok(dropped)
    }

    /// Deletes the oldest segment; returns its points that had not been replayed.
    fn drop_oldest(&mut self) -> Result<u64, SpoolError> {
        let Some(seg) = self.segments.pop_front() else { return Ok(0) };
        let from = if seg.seq == self.cursor.0 { self.cursor.1 } else { 0 };
        let lost: u64 = seg.records.get(from..).map_or(0, |rs| rs.iter().map(|r| r.points).sum());
        if self.segments.is_empty() {
            self.active = None;
        }
        std::fs::remove_file(&seg.path).map_err(io(&seg.path))?;
        if self.cursor.0 <= seg.seq {
            self.cursor = (self.segments.front().map_or(self.next_seq, |s| s.seq), 0);
            self.write_cursor()?;
        }
        Ok(lost)
    }

    /// The oldest record not yet replayed, decoded. A record that fails its checksum or decoding now (the disk
    /// changed under us since start-up) is logged and skipped.
    pub fn next_record(&mut self) -> Result<Option<(Ticket, Vec<Point>)>, SpoolError> {
        loop {
            let Some(seg) = self.segments.iter().find(|s| s.seq == self.cursor.0) else { return Ok(None) };
            let Some(rec) = seg.records.get(self.cursor.1).copied() else { return Ok(None) };
            let ticket = Ticket { seq: seg.seq, index: self.cursor.1 };
            let mut buf = vec![0u8; rec.len as usize];
            let path = seg.path.clone();
            File::open(&path)
                .and_then(|mut f| f.seek(SeekFrom::Start(rec.offset)).and_then(|_| f.read_exact(&mut buf)))
                .map_err(io(&path))?;
            let points = check(&buf).and_then(|_| codec::decode(&buf[HEADER as usize..]));
            match points {
                Some(p) => return Ok(Some((ticket, p))),
                None => {
                    tracing::error!(segment = %path.display(), offset = rec.offset, "spool record damaged since start-up; skipped");
                    self.commit(ticket)?;
                }
            }
        }
    }

    /// Marks the record as delivered: the cursor moves past it (durably) and emptied segments are deleted.
    pub fn commit(&mut self, ticket: Ticket) -> Result<(), SpoolError> {
        if (ticket.seq, ticket.index) != self.cursor {
            return Ok(()); // already past it (its segment was dropped for room meanwhile)
        }
        self.cursor.1 += 1;
        let at_end = self.segments.iter().find(|s| s.seq == self.cursor.0).is_none_or(|s| self.cursor.1 >= s.records.len());
        let is_active = self.segments.back().is_some_and(|s| s.seq == self.cursor.0) && self.active.is_some();
        if at_end && !is_active {
            if let Some(next) = self.segments.iter().find(|s| s.seq > self.cursor.0) {
                self.cursor = (next.seq, 0);
            }
        }
        self.discard_replayed()?;
        self.write_cursor()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codec::tests::sample;

    fn cfg(dir: &Path, max: u64, seg: u64) -> SpoolConfig {
        SpoolConfig { dir: dir.to_path_buf(), max_bytes: max, segment_bytes: seg }
    }

    fn drain(spool: &mut Spool) -> Vec<Point> {
        let mut out = Vec::new();
        while let Some((t, p)) = spool.next_record().unwrap() {
            out.extend(p);
            spool.commit(t).unwrap();
        }
        out
    }

    #[test]
    fn replays_in_order_across_segments_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let batches: Vec<Vec<Point>> = (0..6).map(|i| sample(20 + i)).collect();
        {
            let (mut s, report) = Spool::open(cfg(dir.path(), 1 << 30, 4096)).unwrap();
            assert_eq!(report.records, 0);
            for b in &batches {
                assert_eq!(s.append(b).unwrap(), 0);
            }
            // Replay two records, then "crash".
            for _ in 0..2 {
                let (t, _) = s.next_record().unwrap().unwrap();
                s.commit(t).unwrap();
            }
        }
        let (mut s, report) = Spool::open(cfg(dir.path(), 1 << 30, 4096)).unwrap();
        assert_eq!(report.records, 4, "the cursor survived the restart");
        assert!(report.damaged.is_empty());
        let want: Vec<Point> = batches[2..].iter().flatten().cloned().collect();
        assert_eq!(drain(&mut s), want);
        assert!(s.is_empty());
        let (_, bytes) = s.pending();
        assert!(bytes <= 4096 * 2, "replayed segments are deleted");
    }

    /// Issue 17, defect 1: outage, replay empties the spool, restart, a second outage spools points, restart
    /// before the store is back: the second start deleted the new segment (numbered 1 again under a cursor
    /// naming segment 1's last record) without replaying it.
    #[test]
    fn regression_spool_deleted_points_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let c = || cfg(dir.path(), 1 << 30, 1 << 20);
        {
            // First outage, then the store comes back and the whole spool is replayed.
            let (mut s, _) = Spool::open(c()).unwrap();
            for _ in 0..3 {
                s.append(&sample(10)).unwrap();
            }
            assert_eq!(drain(&mut s).len(), 3 * sample(10).len());
        }
        // A restart with an empty spool (the replayed segment is deleted now), then another restart.
        drop(Spool::open(c()).unwrap());
        let second: Vec<Point> = {
            let (mut s, report) = Spool::open(c()).unwrap();
            assert_eq!(report.records, 0);
            // Second outage: two batches spooled, then a crash before the store is back.
            let b = [sample(7), sample(5)];
            s.append(&b[0]).unwrap();
            s.append(&b[1]).unwrap();
            b.concat()
        };
        for round in 0..2 {
            // Every start replays everything not replayed, however often it restarts.
            let (mut s, report) = Spool::open(c()).unwrap();
            assert_eq!(report.points, second.len() as u64, "start {round}: the second outage's points are pending");
            if round == 1 {
                assert_eq!(drain(&mut s), second);
            }
        }
        let (s, report) = Spool::open(c()).unwrap();
        assert_eq!((report.points, s.is_empty()), (0, true), "replayed once, then gone");
    }

    /// A damaged cursor file replays everything (duplicates are harmless; a skip is a loss).
    #[test]
    fn a_damaged_cursor_replays_everything() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut s, _) = Spool::open(cfg(dir.path(), 1 << 30, 1 << 20)).unwrap();
            s.append(&sample(4)).unwrap();
            s.append(&sample(4)).unwrap();
            let (t, _) = s.next_record().unwrap().unwrap();
            s.commit(t).unwrap();
        }
        std::fs::write(dir.path().join("cursor"), b"\xff garbage").unwrap();
        let (mut s, report) = Spool::open(cfg(dir.path(), 1 << 30, 1 << 20)).unwrap();
        assert_eq!(report.records, 2);
        assert_eq!(drain(&mut s).len(), 2 * sample(4).len());
    }

    #[test]
    fn drops_the_oldest_segment_at_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let one = {
            let mut b = Vec::new();
            codec::encode(&sample(30), &mut b);
            b.len() as u64 + 12
        };
        // Room for three records, one record per segment.
        let (mut s, _) = Spool::open(cfg(dir.path(), one * 3, one)).unwrap();
        let mut dropped = 0;
        let batches: Vec<Vec<Point>> = (0..5).map(|_| sample(30)).collect();
        for b in &batches {
            dropped += s.append(b).unwrap();
        }
        let per = sample(30).len() as u64;
        assert_eq!(dropped, 2 * per, "two batches made room");
        assert_eq!(drain(&mut s).len() as u64, 3 * per, "the newest three survive");
        assert!(matches!(s.append(&sample(2000)), Err(SpoolError::TooLarge { .. })));
    }

    #[test]
    fn a_torn_tail_is_reported_and_the_rest_replayed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut s, _) = Spool::open(cfg(dir.path(), 1 << 30, 1 << 20)).unwrap();
            for _ in 0..3 {
                s.append(&sample(10)).unwrap();
            }
        }
        let seg = dir.path().join(segment_name(1));
        let len = std::fs::metadata(&seg).unwrap().len();
        // Power loss in the middle of the third record.
        OpenOptions::new().write(true).open(&seg).unwrap().set_len(len - 40).unwrap();
        let (mut s, report) = Spool::open(cfg(dir.path(), 1 << 30, 1 << 20)).unwrap();
        assert_eq!(report.damaged.len(), 1, "{:?}", report.damaged);
        assert!(report.damaged[0].contains("the 2 record(s) before it kept"), "{:?}", report.damaged);
        assert_eq!(report.records, 2);
        assert_eq!(drain(&mut s).len(), 2 * sample(10).len());
        // Appending after the repair works and replays.
        s.append(&sample(1)).unwrap();
        assert_eq!(drain(&mut s).len(), sample(1).len());
    }

    #[test]
    fn a_flipped_bit_is_caught_by_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut s, _) = Spool::open(cfg(dir.path(), 1 << 30, 1 << 20)).unwrap();
            s.append(&sample(10)).unwrap();
            s.append(&sample(10)).unwrap();
        }
        let seg = dir.path().join(segment_name(1));
        let mut bytes = std::fs::read(&seg).unwrap();
        let last = bytes.len() - 5;
        bytes[last] ^= 0x10;
        std::fs::write(&seg, bytes).unwrap();
        let (mut s, report) = Spool::open(cfg(dir.path(), 1 << 30, 1 << 20)).unwrap();
        assert_eq!((report.records, report.damaged.len()), (1, 1));
        assert_eq!(drain(&mut s).len(), sample(10).len());
    }
}
