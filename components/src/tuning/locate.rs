//! Finding the line of a field in RON text, so validation errors can point at it.
//!
//! A small scanner, not a parser: it follows a dotted path (`classes.fighter.max_speed`)
//! through nested `( ... )` structs, skipping comments and strings, and only matches a key
//! at the top level of the enclosing struct. It returns the deepest key it found, so a field
//! left out (defaulted) still points at its parent.

/// 1-based line of the deepest key of `path` found in `text`.
pub(super) fn line_of(text: &str, path: &[&str]) -> Option<usize> {
    let b = text.as_bytes();
    let mut open = value_open_paren(b, 0)?;
    let mut line = None;
    for (i, key) in path.iter().enumerate() {
        let Some((key_at, after)) = find_key(b, open, key) else {
            break;
        };
        line = Some(text[..key_at].matches('\n').count() + 1);
        if i + 1 < path.len() {
            match value_open_paren(b, after) {
                Some(p) => open = p,
                None => break,
            }
        }
    }
    line
}

/// Index just past whitespace and comments from `i`.
fn skip_trivia(b: &[u8], mut i: usize) -> usize {
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i = (i + 2).min(b.len());
        } else {
            return i;
        }
    }
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The `(` opening the value at `i`: an optional struct name, then `(`.
fn value_open_paren(b: &[u8], i: usize) -> Option<usize> {
    let mut i = skip_trivia(b, i);
    while i < b.len() && is_ident(b[i]) {
        i += 1;
    }
    let i = skip_trivia(b, i);
    (b.get(i) == Some(&b'(')).then_some(i)
}

/// Finds `key:` at depth 1 inside the struct opened at `open`: (key index, index after `:`).
fn find_key(b: &[u8], open: usize, key: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        i = skip_trivia(b, i);
        let Some(&c) = b.get(i) else { break };
        match c {
            b'(' | b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return None;
                }
                i += 1;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            c if is_ident(c) => {
                let start = i;
                while i < b.len() && (is_ident(b[i]) || b[i] == b'.') {
                    i += 1;
                }
                let after = skip_trivia(b, i);
                if depth == 1 && &b[start..i] == key.as_bytes() && b.get(after) == Some(&b':') {
                    return Some((start, after + 1));
                }
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::line_of;

    const TEXT: &str = "// comment: classes\n(\n  classes: (\n    fighter: (hull: 1.0, cost: (credits: 2.0)),\n    corvette: Stats(\n      hull: 3.0, // hull: not this\n    ),\n  ),\n  combat: (hull: 9.0),\n)\n";

    #[test]
    fn finds_nested_keys_within_their_struct() {
        assert_eq!(line_of(TEXT, &["classes"]), Some(3));
        assert_eq!(line_of(TEXT, &["classes", "fighter", "hull"]), Some(4));
        assert_eq!(line_of(TEXT, &["classes", "corvette", "hull"]), Some(6));
        assert_eq!(line_of(TEXT, &["combat", "hull"]), Some(9));
    }

    #[test]
    fn a_missing_key_points_at_its_parent() {
        assert_eq!(line_of(TEXT, &["classes", "corvette", "cost", "energy"]), Some(5));
        assert_eq!(line_of(TEXT, &["classes", "fighter", "cost", "energy"]), Some(4));
        assert_eq!(line_of(TEXT, &["nothing"]), None);
        assert_eq!(line_of("not ron at all", &["x"]), None);
    }
}
