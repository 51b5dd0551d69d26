//! The kernel log as `/dev/kmsg` serves it (Documentation/ABI/testing/
//! dev-kmsg): opened non-blocking and positioned after the last record, each
//! `read()` returns one record, `EAGAIN` says there is no newer one and
//! `EPIPE` that records were overwritten before they were read (the next
//! read goes on from the oldest one left).
//!
//! A record is `PRIORITY,SEQUENCE,TIMESTAMP,FLAGS[,...];TEXT\n`, then
//! optional dictionary lines that start with a space (`SUBSYSTEM=...`).
//! The kernel escapes unprintable bytes of TEXT as `\xNN`; they are kept so.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use thiserror::Error;

/// Where the kernel serves its log.
pub const KMSG_PATH: &str = "/dev/kmsg";

/// The kernel splits longer texts into several records
/// (`CONSOLE_EXT_LOG_MAX` is 8 KiB); a read into a smaller buffer fails
/// with `EINVAL`.
const RECORD_BUFFER: usize = 16 * 1024;

/// One record of the kernel log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Syslog level, 0 (`KERN_EMERG`) to 7 (`KERN_DEBUG`).
    pub level: u8,
    /// Syslog facility (0 for the kernel's own messages).
    pub facility: u32,
    /// The record's sequence number; a gap means records were lost.
    pub sequence: u64,
    /// Microseconds since boot.
    pub timestamp_us: u64,
    /// Whether the record continues the previous one (flag `c` or `+`).
    pub continuation: bool,
    /// The message, without its newline and dictionary lines.
    pub text: String,
}

/// Why the kernel log cannot be read, or a record not understood.
#[derive(Debug, Error)]
pub enum KmsgError {
    /// `/dev/kmsg` cannot be opened (no such device, or not permitted:
    /// `kernel.dmesg_restrict`, a container without it).
    #[error("{}: {source}", path.display())]
    Open {
        /// The device.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Reading or seeking failed with something other than `EAGAIN` or
    /// `EPIPE`.
    #[error("{}: {source}", path.display())]
    Read {
        /// The device.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A record is not `PRIORITY,SEQUENCE,TIMESTAMP,FLAGS;TEXT`.
    #[error("kernel log record {record:?}: {problem}")]
    Malformed {
        /// The record as read (lossily decoded).
        record: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// Parses one record as a `read()` of `/dev/kmsg` returns it.
pub fn parse_record(raw: &[u8]) -> Result<LogRecord, KmsgError> {
    let text = String::from_utf8_lossy(raw);
    let malformed = |problem| KmsgError::Malformed {
        record: text.to_string(),
        problem,
    };
    let (prefix, rest) = text
        .split_once(';')
        .ok_or_else(|| malformed("no ';' after the prefix"))?;
    // The message ends at its newline; dictionary lines follow it.
    let message = rest.split('\n').next().unwrap_or_default();
    let mut fields = prefix.split(',');
    let mut number = |name| -> Result<u64, KmsgError> {
        fields
            .next()
            .ok_or_else(|| malformed(name))?
            .parse()
            .map_err(|_| malformed(name))
    };
    let priority = number("the priority is not a number")?;
    let sequence = number("the sequence number is not a number")?;
    let timestamp_us = number("the timestamp is not a number")?;
    let flags = fields.next().ok_or_else(|| malformed("no flags field"))?;
    Ok(LogRecord {
        level: u8::try_from(priority & 7).map_err(|_| malformed("bad priority"))?,
        facility: u32::try_from(priority >> 3)
            .map_err(|_| malformed("the facility is out of range"))?,
        sequence,
        timestamp_us,
        continuation: flags.contains(['c', '+']),
        text: message.to_owned(),
    })
}

/// What one [`KernelLog::read_new`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRecords {
    /// The records, oldest first.
    pub records: Vec<LogRecord>,
    /// Whether records were overwritten before they could be read
    /// (`EPIPE`): something may be missing before or among `records`.
    pub overrun: bool,
}

/// A reader of the kernel log that sees only records newer than its opening.
#[derive(Debug)]
pub struct KernelLog {
    file: File,
}

impl KernelLog {
    /// Opens `/dev/kmsg` after its last record: [`read_new`](Self::read_new)
    /// returns only what the kernel logs from now on.
    pub fn open_at_end() -> Result<KernelLog, KmsgError> {
        let mut log = KernelLog::open_at_start()?;
        log.file
            .seek(SeekFrom::End(0))
            .map_err(|source| KmsgError::Read {
                path: PathBuf::from(KMSG_PATH),
                source,
            })?;
        Ok(log)
    }

    /// Opens `/dev/kmsg` at its oldest record still in the kernel's buffer.
    pub fn open_at_start() -> Result<KernelLog, KmsgError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(KMSG_PATH)
            .map_err(|source| KmsgError::Open {
                path: PathBuf::from(KMSG_PATH),
                source,
            })?;
        Ok(KernelLog { file })
    }

    /// Every record written since the last call (or the opening).
    pub fn read_new(&mut self) -> Result<NewRecords, KmsgError> {
        let mut found = NewRecords::default();
        let mut buffer = vec![0u8; RECORD_BUFFER];
        loop {
            match self.file.read(&mut buffer) {
                // The device never ends; a zero-length read would be a
                // broken device, and reading on would spin.
                Ok(0) => return Ok(found),
                Ok(length) => found.records.push(parse_record(&buffer[..length])?),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(found),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => found.overrun = true,
                Err(source) => {
                    return Err(KmsgError::Read {
                        path: PathBuf::from(KMSG_PATH),
                        source,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_record_with_its_dictionary() {
        let record = parse_record(
            b"4,1234,5678901,-,caller=T42;WARNING: CPU: 1 PID: 42 at kernel/bpf/verifier.c:2731\n SUBSYSTEM=bpf\n",
        )
        .expect("a record");
        assert_eq!(
            record,
            LogRecord {
                level: 4,
                facility: 0,
                sequence: 1234,
                timestamp_us: 5_678_901,
                continuation: false,
                text: "WARNING: CPU: 1 PID: 42 at kernel/bpf/verifier.c:2731".into(),
            }
        );
    }

    #[test]
    fn splits_facility_from_level_and_keeps_semicolons_in_the_text() {
        // (3 << 3) | 6: the daemon facility, KERN_INFO.
        let record = parse_record(b"30,7,8,c;a; b\\x0a c\n").expect("a record");
        assert_eq!((record.facility, record.level), (3, 6));
        assert!(record.continuation);
        assert_eq!(record.text, "a; b\\x0a c");
    }

    #[test]
    fn refuses_records_without_the_prefix() {
        for raw in [
            &b"no prefix\n"[..],
            b"4,x,1,-;text\n",
            b"4,1,2;text\n",
            b"4;t",
        ] {
            assert!(
                matches!(parse_record(raw), Err(KmsgError::Malformed { .. })),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
