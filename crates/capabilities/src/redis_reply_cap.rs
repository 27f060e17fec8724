//! A bound on what one Redis reply may cost the host. The redis crate reads a whole reply
//! into memory before handing it over, with no size limit, and a guest with an outbound
//! Redis grant controls what it asks for (`SETRANGE k 500000000 x`, then `GET k`). So
//! the socket under a guest's Redis connection is wrapped in [`ReplyCap`], which follows
//! the RESP framing of the bytes read and fails the read once one top-level reply costs
//! more than its budget: its bytes, plus a minimum per element for what the parsed value
//! occupies (a million empty strings are small on the wire and not in memory). The
//! failed read ends that connection; the pool makes a new one for the next command.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What each element of a reply is counted as at least: about what the redis crate's
/// parsed `Value` occupies.
const ELEMENT_COST: usize = 64;
/// The longest length or count line a reply may have (`$536870912\r\n` and the like).
const MAX_LINE: usize = 64;

/// Follows RESP framing across reads and counts what the reply being read costs.
#[derive(Debug)]
pub(crate) struct ReplyScanner {
    budget: usize,
    /// What the reply being read has cost so far.
    spent: usize,
    state: Scan,
    /// For each aggregate being read (outermost first): how many elements it still
    /// expects, and whether it is an attribute (which annotates the next value rather
    /// than being one).
    open: Vec<(u64, bool)>,
}

#[derive(Debug)]
enum Scan {
    /// Expecting the type byte of the next value.
    Type,
    /// Reading the header line of a value of this type.
    Line(u8, Vec<u8>),
    /// Skipping the payload of a bulk value (and its CRLF).
    Bulk(u64),
}

/// A reply over budget, or bytes that are not RESP.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// The reply costs more than the budget.
    TooLarge(usize),
    /// The server sent something that is not RESP.
    Malformed,
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge(budget) => write!(
                f,
                "the Redis reply is larger than {} MiB; ask for less at a time",
                budget >> 20
            ),
            Self::Malformed => f.write_str("the Redis server sent a malformed reply"),
        }
    }
}

impl ReplyScanner {
    /// A scanner allowing `budget` per top-level reply.
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            spent: 0,
            state: Scan::Type,
            open: Vec::new(),
        }
    }

    /// Follows `bytes`, the next bytes read from the server.
    pub(crate) fn scan(&mut self, mut bytes: &[u8]) -> Result<(), ScanError> {
        // Each step charges what it consumed before it can end a reply, so a reply's
        // last bytes never count toward the next one.
        while !bytes.is_empty() {
            let used = match &mut self.state {
                Scan::Type => {
                    self.state = Scan::Line(bytes[0], Vec::new());
                    self.charge(1 + ELEMENT_COST)?;
                    1
                }
                Scan::Line(kind, line) => {
                    let kind = *kind;
                    let (taken, ended) = match bytes.iter().position(|&b| b == b'\n') {
                        Some(at) => (at + 1, true),
                        None => (bytes.len(), false),
                    };
                    line.extend_from_slice(&bytes[..taken]);
                    // A simple value's line (a status, an error message) is as long as
                    // it is, within the budget; a length or count is a few digits.
                    if line.len() > MAX_LINE && !is_simple(kind) {
                        return Err(ScanError::Malformed);
                    }
                    let header = ended.then(|| std::mem::take(line));
                    self.charge(taken)?;
                    if let Some(header) = header {
                        self.header(kind, &header)?;
                    }
                    taken
                }
                Scan::Bulk(remaining) => {
                    let taken = (*remaining).min(bytes.len() as u64);
                    *remaining -= taken;
                    let done = *remaining == 0;
                    self.charge(taken as usize)?;
                    if done {
                        self.state = Scan::Type;
                        self.element_done();
                    }
                    taken as usize
                }
            };
            bytes = &bytes[used..];
        }
        Ok(())
    }

    /// Acts on a complete header line (`line` ends with LF) of a value of type `kind`.
    fn header(&mut self, kind: u8, line: &[u8]) -> Result<(), ScanError> {
        let text = line.strip_suffix(b"\r\n").ok_or(ScanError::Malformed)?;
        let number = || -> Result<i64, ScanError> {
            std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or(ScanError::Malformed)
        };
        self.state = Scan::Type;
        match kind {
            // Simple values: the line is the whole value.
            kind if is_simple(kind) => self.element_done(),
            // Bulk string, verbatim string, bulk error: a length, then that many bytes.
            b'$' | b'=' | b'!' => match number()? {
                -1 => self.element_done(),
                n if n >= 0 => {
                    let len = n as u64;
                    // Refused before its bytes arrive, so nothing of it is buffered.
                    if self.spent.saturating_add(len as usize) > self.budget {
                        return Err(ScanError::TooLarge(self.budget));
                    }
                    self.state = Scan::Bulk(len + 2);
                }
                _ => return Err(ScanError::Malformed),
            },
            // Aggregates: a count of elements (pairs for maps and attributes).
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let pairs = matches!(kind, b'%' | b'|');
                match number()? {
                    -1 => self.element_done(),
                    0 if kind != b'|' => self.element_done(),
                    n if n >= 0 => {
                        let count = if pairs { n as u64 * 2 } else { n as u64 };
                        let elements = (count as usize).saturating_mul(ELEMENT_COST);
                        if self.spent.saturating_add(elements) > self.budget {
                            return Err(ScanError::TooLarge(self.budget));
                        }
                        self.open.push((count, kind == b'|'));
                        if count == 0 {
                            self.close_attribute();
                        }
                    }
                    _ => return Err(ScanError::Malformed),
                }
            }
            _ => return Err(ScanError::Malformed),
        }
        Ok(())
    }

    /// One value is complete: it counts toward the aggregate around it, and a
    /// top-level value ends the reply.
    fn element_done(&mut self) {
        loop {
            match self.open.last_mut() {
                None => {
                    self.spent = 0;
                    return;
                }
                Some((remaining, attribute)) => {
                    *remaining -= 1;
                    if *remaining > 0 {
                        return;
                    }
                    let attribute = *attribute;
                    self.open.pop();
                    if attribute {
                        // The value the attribute annotates comes next.
                        return;
                    }
                }
            }
        }
    }

    /// An empty attribute annotates the next value: nothing to count.
    fn close_attribute(&mut self) {
        self.open.pop();
    }

    fn charge(&mut self, cost: usize) -> Result<(), ScanError> {
        self.spent = self.spent.saturating_add(cost);
        if self.spent > self.budget {
            return Err(ScanError::TooLarge(self.budget));
        }
        Ok(())
    }
}

/// Whether a value of type `kind` is one line: status, error, number, double, boolean,
/// null, big number.
fn is_simple(kind: u8) -> bool {
    matches!(kind, b'+' | b'-' | b':' | b',' | b'#' | b'_' | b'(')
}

/// A stream whose reads fail once a reply exceeds its budget (see the module docs).
pub(crate) struct ReplyCap<S> {
    inner: S,
    scanner: ReplyScanner,
}

impl<S> ReplyCap<S> {
    /// `inner`, allowing `budget` per reply.
    pub(crate) fn new(inner: S, budget: usize) -> Self {
        Self {
            inner,
            scanner: ReplyScanner::new(budget),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReplyCap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                match this.scanner.scan(read) {
                    Ok(()) => Poll::Ready(Ok(())),
                    Err(e) => {
                        tracing::warn!("outbound Redis: {e}");
                        Poll::Ready(Err(io::Error::other(e.to_string())))
                    }
                }
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReplyCap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `wire` in pieces of `step` bytes.
    fn scan_in_steps(budget: usize, wire: &[u8], step: usize) -> Result<ReplyScanner, ScanError> {
        let mut scanner = ReplyScanner::new(budget);
        for piece in wire.chunks(step) {
            scanner.scan(piece)?;
        }
        Ok(scanner)
    }

    #[test]
    fn replies_of_every_shape_end_and_reset_the_count_whatever_the_read_sizes() {
        let wire: &[u8] = b"+OK\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n*0\r\n\
            *3\r\n$1\r\na\r\n*2\r\n:1\r\n:2\r\n_\r\n%1\r\n+k\r\n$1\r\nv\r\n\
            |1\r\n+ttl\r\n:3\r\n$2\r\nhi\r\n>2\r\n+message\r\n$0\r\n\r\n-ERR nope\r\n";
        for step in [1, 2, 3, 7, wire.len()] {
            let scanner = scan_in_steps(1 << 20, wire, step).unwrap();
            assert!(scanner.open.is_empty(), "step {step}: {scanner:?}");
            assert_eq!(scanner.spent, 0, "step {step}: every reply ended");
            assert!(matches!(scanner.state, Scan::Type), "step {step}");
        }
    }

    #[test]
    fn a_bulk_string_over_budget_is_refused_at_its_header() {
        let mut scanner = ReplyScanner::new(1 << 20);
        assert_eq!(
            scanner.scan(b"$2000000\r\n"),
            Err(ScanError::TooLarge(1 << 20))
        );
        // Within budget, the same scanner would have taken it byte by byte.
        let mut scanner = ReplyScanner::new(1 << 20);
        scanner.scan(b"$1000\r\n").unwrap();
        scanner.scan(&[b'x'; 1000]).unwrap();
        scanner.scan(b"\r\n").unwrap();
        assert_eq!(scanner.spent, 0);
    }

    #[test]
    fn many_small_elements_count_what_they_occupy_not_just_their_bytes() {
        // A million empty strings: 6 MB on the wire, far more once parsed.
        let mut scanner = ReplyScanner::new(16 << 20);
        assert_eq!(
            scanner.scan(b"*1000000\r\n"),
            Err(ScanError::TooLarge(16 << 20))
        );
        // Streamed in under many headers, the per-element cost still adds up.
        let mut scanner = ReplyScanner::new(1 << 20);
        scanner.scan(b"*2\r\n").unwrap();
        let mut inner = b"*20000\r\n".to_vec();
        inner.extend(b"$0\r\n\r\n".repeat(20_000));
        assert_eq!(scanner.scan(&inner), Err(ScanError::TooLarge(1 << 20)));
    }

    #[test]
    fn what_is_not_resp_is_refused() {
        for wire in [&b"?\r\n"[..], b"$abc\r\n", b"$-5\r\n", b"*x\r\n", b":1\n"] {
            assert_eq!(
                ReplyScanner::new(1 << 20).scan(wire),
                Err(ScanError::Malformed),
                "{}",
                String::from_utf8_lossy(wire)
            );
        }
        let endless_length = [b'$'; 200];
        assert_eq!(
            ReplyScanner::new(1 << 20).scan(&endless_length),
            Err(ScanError::Malformed)
        );
        // A long error message is fine; an endless one runs into the budget.
        let long_error = format!("-WRONGTYPE {}\r\n", "x".repeat(500));
        ReplyScanner::new(1 << 20)
            .scan(long_error.as_bytes())
            .unwrap();
        let mut endless_status = vec![b'+'];
        endless_status.extend([b'x'; 2 << 20]);
        assert_eq!(
            ReplyScanner::new(1 << 20).scan(&endless_status),
            Err(ScanError::TooLarge(1 << 20))
        );
    }
}
