//! How deep a YAML document nests flow collections (`[...]`, `{...}`), found before the YAML
//! parser sees it.
//!
//! The parser behind serde_norway is a Rust port of libyaml whose scanner keeps one entry per open
//! flow collection and walks all of them for every token, so its time grows with the square of
//! the nesting depth: 64 KiB of `[` takes two seconds (a release build), one MiB about nine minutes.
//! The deserializer refuses anything nested past 128 levels, but only after the scanner has paid.
//! [`flow_depth`] measures the depth in one linear pass, following the scanner's own rules for
//! where a token starts: brackets inside quoted and block scalars, comments and plain scalars
//! (`name: web[1]`) are not flow collections, and indentation decides where a plain or a block
//! scalar ends. It is a guard, not a parser: where libyaml would stop with an error it carries
//! on, which can only find more nesting, never less. The `yaml_config` fuzz target checks it
//! against libyaml's scanner (fuzz/README.md).

/// The deepest flow nesting a configuration may have. The native format written entirely in flow
/// style nests about eight levels (`backend_groups: [{members: [{security_groups: [sg]}]}]` is
/// five); 64 keeps the scanner's cost a small multiple of the file's size.
pub const MAX_FLOW_DEPTH: usize = 64;

/// libyaml forgets a possible mapping key this many characters after it started.
const MAX_SIMPLE_KEY_LENGTH: usize = 1024;

/// The result of [`flow_depth`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowDepth {
    /// The deepest nesting seen, up to and including `limit + 1`.
    pub max: usize,
    /// Where (1-based line and column, in characters) the first collection deeper than the limit
    /// opens.
    pub too_deep_at: Option<(usize, usize)>,
}

/// Measures how deep `text` nests flow collections, stopping at the first one nested deeper than
/// `limit`.
pub fn flow_depth(text: &str, limit: usize) -> FlowDepth {
    let mut s = Scanner::new(text.as_bytes());
    let too_deep_at = s.run(limit);
    FlowDepth {
        max: s.max_depth,
        too_deep_at,
    }
}

/// A possible simple key (a mapping key written without `?`) at flow level 0.
#[derive(Debug, Clone, Copy)]
struct Key {
    line: usize,
    column: usize,
    index: usize,
}

/// libyaml's scanner state, reduced to what decides where tokens start: the flow level, the
/// block indentation stack, and the possible key at flow level 0 (its column becomes an
/// indentation level when a `:` follows).
struct Scanner<'a> {
    b: &'a [u8],
    /// Byte offset.
    i: usize,
    /// Character offset, as libyaml counts (a CR LF pair is two).
    index: usize,
    /// 0-based line and column (in characters).
    line: usize,
    column: usize,
    depth: usize,
    max_depth: usize,
    /// The current block indentation (-1 outside any block collection) and the enclosing ones.
    indent: isize,
    indents: Vec<isize>,
    /// Whether a simple key may start here (libyaml's `simple_key_allowed`).
    allowed: bool,
    key: Option<Key>,
}

impl<'a> Scanner<'a> {
    fn new(b: &'a [u8]) -> Self {
        Scanner {
            b,
            // The reader takes a byte order mark at the start of the stream for the encoding's;
            // the scanner never sees it (one at the start of a later line is a character).
            i: if b.starts_with(b"\xef\xbb\xbf") { 3 } else { 0 },
            index: 0,
            line: 0,
            column: 0,
            depth: 0,
            max_depth: 0,
            indent: -1,
            indents: Vec::new(),
            allowed: true,
            key: None,
        }
    }

    /// The byte `k` bytes ahead; 0 past the end (libyaml's end marker: a NUL in the text is a
    /// reader error there, so nothing after it is scanned either).
    fn at(&self, k: usize) -> u8 {
        self.b.get(self.i + k).copied().unwrap_or(0)
    }

    fn is_z(&self, k: usize) -> bool {
        self.at(k) == 0
    }

    fn is_blank(&self, k: usize) -> bool {
        matches!(self.at(k), b' ' | b'\t')
    }

    /// CR, LF, NEL (U+0085), LS (U+2028) and PS (U+2029) break lines, as in libyaml.
    fn is_break(&self, k: usize) -> bool {
        match self.at(k) {
            b'\r' | b'\n' => true,
            0xc2 => self.at(k + 1) == 0x85,
            0xe2 => self.at(k + 1) == 0x80 && matches!(self.at(k + 2), 0xa8 | 0xa9),
            _ => false,
        }
    }

    fn is_breakz(&self, k: usize) -> bool {
        self.is_break(k) || self.is_z(k)
    }

    fn is_blankz(&self, k: usize) -> bool {
        self.is_blank(k) || self.is_breakz(k)
    }

    /// Moves past one character (not a line break).
    fn skip(&mut self) {
        let width = match self.at(0) {
            0..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            _ => 4,
        };
        self.i = (self.i + width).min(self.b.len());
        self.index += 1;
        self.column += 1;
    }

    /// Moves past a line break.
    fn skip_line(&mut self) {
        if self.at(0) == b'\r' && self.at(1) == b'\n' {
            self.i += 2;
            self.index += 2;
        } else {
            self.skip();
        }
        self.line += 1;
        self.column = 0;
    }

    /// Moves past one character or line break.
    fn skip_any(&mut self) {
        if self.is_break(0) {
            self.skip_line();
        } else {
            self.skip();
        }
    }

    fn skip_to_break(&mut self) {
        while !self.is_breakz(0) {
            self.skip();
        }
    }

    /// `---` or `...` at the start of a line.
    fn document_marker(&self) -> bool {
        self.column == 0
            && ((self.at(0) == b'-' && self.at(1) == b'-' && self.at(2) == b'-')
                || (self.at(0) == b'.' && self.at(1) == b'.' && self.at(2) == b'.'))
            && self.is_blankz(3)
    }

    fn roll_indent(&mut self, column: usize) {
        let column = column as isize;
        if self.depth == 0 && self.indent < column {
            self.indents.push(self.indent);
            self.indent = column;
        }
    }

    fn unroll_indent(&mut self, column: isize) {
        if self.depth != 0 {
            return;
        }
        while self.indent > column {
            self.indent = self.indents.pop().unwrap_or(-1);
        }
    }

    fn save_key(&mut self) {
        if self.depth == 0 && self.allowed {
            self.key = Some(Key {
                line: self.line,
                column: self.column,
                index: self.index,
            });
        }
    }

    fn remove_key(&mut self) {
        if self.depth == 0 {
            self.key = None;
        }
    }

    /// The possible key at flow level 0, unless it is stale: on an earlier line, or too long ago.
    fn take_key(&mut self) -> Option<Key> {
        self.key
            .take()
            .filter(|k| k.line == self.line && k.index + MAX_SIMPLE_KEY_LENGTH >= self.index)
    }

    /// Scans to the end, or to the first flow collection deeper than `limit`.
    fn run(&mut self, limit: usize) -> Option<(usize, usize)> {
        loop {
            self.skip_to_next_token();
            if self.is_z(0) {
                return None;
            }
            self.unroll_indent(self.column as isize);
            if self.stream_marker() {
                continue;
            }
            if let Some(place) = self.token(limit) {
                return Some(place);
            }
        }
    }

    /// Skips a directive or a document marker, which close every block collection; `false` when
    /// there is none here.
    fn stream_marker(&mut self) -> bool {
        if self.column == 0 && self.at(0) == b'%' {
            // A directive (%YAML, %TAG) fills its line.
            self.unroll_indent(-1);
            self.remove_key();
            self.allowed = false;
            self.skip_to_break();
            return true;
        }
        if self.document_marker() {
            self.unroll_indent(-1);
            self.key = None;
            self.allowed = false;
            for _ in 0..3 {
                self.skip();
            }
            return true;
        }
        false
    }

    /// Scans one token, as libyaml's `yaml_parser_fetch_next_token` dispatches on its first
    /// character: the place of a flow collection deeper than `limit`, else `None`.
    fn token(&mut self, limit: usize) -> Option<(usize, usize)> {
        match self.at(0) {
            b'[' | b'{' => {
                self.save_key();
                self.depth += 1;
                self.max_depth = self.max_depth.max(self.depth);
                if self.depth > limit {
                    return Some((self.line + 1, self.column + 1));
                }
                self.allowed = true;
                self.skip();
            }
            b']' | b'}' => {
                self.depth = self.depth.saturating_sub(1);
                self.allowed = false;
                self.skip();
            }
            b',' => {
                self.remove_key();
                self.allowed = true;
                self.skip();
            }
            b'-' if self.is_blankz(1) => {
                self.roll_indent(self.column);
                self.remove_key();
                self.allowed = true;
                self.skip();
            }
            b'?' if self.depth > 0 || self.is_blankz(1) => {
                self.roll_indent(self.column);
                self.remove_key();
                self.allowed = self.depth == 0;
                self.skip();
            }
            b':' if self.depth > 0 || self.is_blankz(1) => {
                if self.depth == 0 {
                    match self.take_key() {
                        Some(k) => self.roll_indent(k.column),
                        None => self.roll_indent(self.column),
                    }
                }
                self.allowed = self.depth == 0;
                self.skip();
            }
            b'*' | b'&' => {
                self.save_key();
                self.allowed = false;
                self.anchor_or_alias();
            }
            b'!' => {
                self.save_key();
                self.allowed = false;
                self.tag();
            }
            b'|' | b'>' if self.depth == 0 => {
                self.remove_key();
                self.allowed = true;
                self.block_scalar();
            }
            b'\'' => {
                self.save_key();
                self.allowed = false;
                self.single_quoted();
            }
            b'"' => {
                self.save_key();
                self.allowed = false;
                self.double_quoted();
            }
            _ if self.plain_starts() => {
                self.save_key();
                self.allowed = self.plain();
            }
            // libyaml stops here ("found character that cannot start any token").
            _ => self.skip(),
        }
        None
    }

    /// Skips spaces, comments and line breaks (and a byte order mark at the start of a line).
    fn skip_to_next_token(&mut self) {
        loop {
            if self.column == 0 && self.at(0) == 0xef && self.at(1) == 0xbb && self.at(2) == 0xbf {
                self.skip();
            }
            while self.is_blank(0) {
                self.skip();
            }
            if self.at(0) == b'#' {
                self.skip_to_break();
            }
            if !self.is_break(0) {
                return;
            }
            self.skip_line();
            if self.depth == 0 {
                self.allowed = true;
            }
        }
    }

    fn plain_starts(&self) -> bool {
        let c = self.at(0);
        let indicator = matches!(
            c,
            b'-' | b'?'
                | b':'
                | b','
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'#'
                | b'&'
                | b'*'
                | b'!'
                | b'|'
                | b'>'
                | b'\''
                | b'"'
                | b'%'
                | b'@'
                | b'`'
        );
        !(self.is_blankz(0) || indicator)
            || (c == b'-' && !self.is_blank(1))
            || (self.depth == 0 && matches!(c, b'?' | b':') && !self.is_blankz(1))
    }

    /// A plain scalar: ends at `: `, ` #`, a flow indicator inside a flow collection, or a line
    /// indented no deeper than its block. Returns whether it took in a line break (after which a
    /// key may start again).
    fn plain(&mut self) -> bool {
        let indent = self.indent + 1;
        let mut leading_blanks = false;
        loop {
            if self.document_marker() || self.at(0) == b'#' {
                break;
            }
            while !self.is_blankz(0) {
                let c = self.at(0);
                if (c == b':' && self.is_blankz(1))
                    || (self.depth > 0
                        && (matches!(c, b',' | b'[' | b']' | b'{' | b'}')
                            || (c == b':'
                                && matches!(self.at(1), b',' | b'?' | b'[' | b']' | b'{' | b'}'))))
                {
                    return leading_blanks;
                }
                self.skip();
            }
            if !(self.is_blank(0) || self.is_break(0)) {
                break;
            }
            while self.is_blank(0) || self.is_break(0) {
                if self.is_break(0) {
                    self.skip_line();
                    leading_blanks = true;
                } else {
                    self.skip();
                }
            }
            if self.depth == 0 && (self.column as isize) < indent {
                break;
            }
        }
        leading_blanks
    }

    fn single_quoted(&mut self) {
        self.skip();
        while !self.is_z(0) {
            if self.at(0) == b'\'' {
                self.skip();
                if self.at(0) != b'\'' {
                    return;
                }
            }
            self.skip_any();
        }
    }

    fn double_quoted(&mut self) {
        self.skip();
        while !self.is_z(0) {
            match self.at(0) {
                b'"' => {
                    self.skip();
                    return;
                }
                b'\\' => {
                    self.skip();
                    if !self.is_z(0) {
                        self.skip_any();
                    }
                }
                _ => self.skip_any(),
            }
        }
    }

    /// `*alias` or `&anchor`: the indicator and the name's characters.
    fn anchor_or_alias(&mut self) {
        self.skip();
        while self.at(0).is_ascii_alphanumeric() || matches!(self.at(0), b'_' | b'-') {
            self.skip();
        }
    }

    /// `!tag`, `!handle!suffix` or `!<verbatim>`: URI characters, which include `'` and, verbatim,
    /// `[` and `]`.
    fn tag(&mut self) {
        let uri = |c: u8, verbatim: bool| {
            c.is_ascii_alphanumeric()
                || b"_-;/?:@&=+$.%!~*'()".contains(&c)
                || (verbatim && b",[]".contains(&c))
        };
        self.skip();
        let verbatim = self.at(0) == b'<';
        if verbatim {
            self.skip();
        }
        while uri(self.at(0), verbatim) {
            self.skip();
        }
        if verbatim && self.at(0) == b'>' {
            self.skip();
        }
    }

    /// A literal (`|`) or folded (`>`) scalar: its header line, then every line indented at least
    /// as far as its first non-empty line (or the explicit indentation indicator says), and more
    /// than the enclosing block.
    fn block_scalar(&mut self) {
        let parent = self.indent;
        self.skip();
        let mut increment = 0;
        let digit = |c: u8| matches!(c, b'1'..=b'9').then(|| isize::from(c - b'0'));
        if matches!(self.at(0), b'+' | b'-') {
            self.skip();
            if let Some(d) = digit(self.at(0)) {
                increment = d;
                self.skip();
            }
        } else if let Some(d) = digit(self.at(0)) {
            increment = d;
            self.skip();
            if matches!(self.at(0), b'+' | b'-') {
                self.skip();
            }
        }
        while self.is_blank(0) {
            self.skip();
        }
        if self.at(0) == b'#' {
            self.skip_to_break();
        }
        if !self.is_breakz(0) {
            // libyaml stops here ("did not find expected comment or line break").
            return;
        }
        if self.is_break(0) {
            self.skip_line();
        }
        let mut indent = match increment {
            0 => 0,
            n if parent >= 0 => parent + n,
            n => n,
        };
        self.block_scalar_breaks(&mut indent, parent);
        while self.column as isize == indent && !self.is_z(0) {
            self.skip_to_break();
            if !self.is_break(0) {
                break;
            }
            self.skip_line();
            self.block_scalar_breaks(&mut indent, parent);
        }
    }

    /// Empty lines and indentation; settles the indentation of an auto-detected block scalar.
    fn block_scalar_breaks(&mut self, indent: &mut isize, parent: isize) {
        let mut max_indent = 0;
        loop {
            while (*indent == 0 || (self.column as isize) < *indent) && self.at(0) == b' ' {
                self.skip();
            }
            max_indent = max_indent.max(self.column as isize);
            // A tab in the indentation is an error in libyaml; carrying on counts more.
            if !self.is_break(0) {
                break;
            }
            self.skip_line();
        }
        if *indent == 0 {
            *indent = max_indent.max(parent + 1).max(1);
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests read fixtures and time themselves
mod tests {
    use super::*;

    fn depth(text: &str) -> usize {
        flow_depth(text, usize::MAX).max
    }

    #[test]
    fn flow_collections_count_and_the_first_too_deep_is_located() {
        assert_eq!(depth("a: [1, {b: [2]}]\n"), 3);
        assert_eq!(depth("a: []\nb: [[]]\nc: {}\n"), 2);
        let deep = format!("subnets:\n  - {}", "[".repeat(100));
        let d = flow_depth(&deep, 64);
        assert_eq!(d.too_deep_at, Some((2, 5 + 64)));
        assert_eq!(d.max, 65);
        assert_eq!(flow_depth("[[x]]", 2).too_deep_at, None);
    }

    #[test]
    fn brackets_in_scalars_and_comments_do_not_count() {
        for text in [
            "name: web[1]\n",
            "name: 'a[[[' # [[[\n",
            "name: \"[[\\\"[[\"\n",
            "a: [x#y, 'it''s [', \"]\"]\n",
            "a: |\n  [[[[\n  {{{{\nb: 1\n",
            "- a: >-\n    [[[\n  b: c\n",
            "a: b\n  [[[ continued\n",
            "a: !<tag:[x]> 1\n",
            "a: &x-y [1]\nb: *x-y\n",
        ] {
            assert!(depth(text) <= 1, "{text:?}: {}", depth(text));
        }
    }

    /// Where libyaml sees a flow collection, so must the guard: quotes inside plain scalars and
    /// the end of a block scalar must not hide one.
    #[test]
    fn nesting_after_scalars_that_look_like_quotes_is_counted() {
        let deep = "[ \"]\" ".repeat(80);
        for text in [
            format!("a: 5\"\nb: {deep}\n"),
            format!("a: it's\nb: {deep}\n"),
            format!("- key: |\n    text '\n  other: {deep}\n"),
            format!("a: |\n  x\nb: {deep}\n"),
            format!("a: b # '\nc: {deep}\n"),
            format!("a: !t' {deep}\n"),
        ] {
            assert_eq!(depth(&text), 80, "{text:?}");
        }
    }

    /// Found by the `yaml_config` fuzz target (the guard against libyaml's scanner): a byte order
    /// mark at the start of the stream takes no column, so the next lines continue the plain
    /// scalar and the `[` in them is text.
    #[test]
    fn a_leading_byte_order_mark_takes_no_column() {
        let text = "\u{feff}a: b\n c\n |[\n";
        assert_eq!(depth(text), 0);
        assert_eq!(depth(&text[3..]), 0);
        assert_eq!(depth("a: b\n\u{feff}[x]\n"), 1);
    }

    /// Found by the `yaml_config` fuzz target: after a directive no block is open, so a plain
    /// scalar continues on every following line, `[` and all.
    #[test]
    fn a_directive_closes_the_blocks() {
        assert_eq!(depth("a:\n  - b\n%YAML 1.1\n--\n- [x]\n"), 0);
        assert_eq!(depth("%YAML 1.1\n---\n- [x]\n"), 1);
    }

    #[test]
    fn the_example_configurations_nest_shallowly() {
        let dir = crate::import::testing::repo("probes");
        for entry in std::fs::read_dir(dir).expect("probes/") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).expect("UTF-8");
                assert!(depth(&text) <= 3, "{}", path.display());
            }
        }
    }

    #[test]
    fn the_scan_is_linear() {
        // 4 MiB of brackets: libyaml would take two and a half hours; this is one pass.
        let text = "[".repeat(4 << 20);
        let started = std::time::Instant::now();
        assert_eq!(depth(&text), 4 << 20);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}
