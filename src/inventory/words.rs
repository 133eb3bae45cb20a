//! Shell-like word splitting, shared by INI host lines (`host a=1 b="x y"`)
//! and `ansible_ssh_common_args` (`-o "ProxyCommand ssh -W %h:%p bastion"`).

/// One word of a line. `quoted` tells INI typing that the user wrote a
/// string (`port="22"` stays a string), `column` points errors at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub text: String,
    pub quoted: bool,
    /// 1-based character column where the word starts.
    pub column: usize,
}

/// Splits on whitespace outside quotes; `'...'` is literal, `"..."` and bare
/// text honour backslash escapes. A `#` at the start of a word begins a
/// comment (so `pass=ab#c` keeps its `#`). Errors name the column of an
/// unterminated quote.
pub(crate) fn split(line: &str) -> Result<Vec<Word>, (usize, String)> {
    let mut words = Vec::new();
    let mut current: Option<Word> = None;
    let mut chars = line.chars().enumerate().peekable();
    while let Some((i, c)) = chars.next() {
        let column = i + 1;
        if c.is_whitespace() {
            words.extend(current.take());
            continue;
        }
        if c == '#' && current.is_none() {
            break;
        }
        let word = current.get_or_insert_with(|| Word {
            text: String::new(),
            quoted: false,
            column,
        });
        match c {
            '\'' | '"' => {
                word.quoted = true;
                let mut closed = false;
                while let Some((_, q)) = chars.next() {
                    if q == c {
                        closed = true;
                        break;
                    }
                    if q == '\\' && c == '"' {
                        if let Some((_, escaped)) = chars.next() {
                            word.text.push(escaped);
                        }
                        continue;
                    }
                    word.text.push(q);
                }
                if !closed {
                    return Err((
                        column,
                        format!("unterminated {c} quote; close it or escape it with \\"),
                    ));
                }
            }
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    word.text.push(escaped);
                }
            }
            _ => word.text.push(c),
        }
    }
    words.extend(current);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        split(line).unwrap().into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn quotes_group_words_and_comments_end_the_line() {
        assert_eq!(
            texts(r#"host a=1 b="x y" c='it''s' # note"#),
            ["host", "a=1", "b=x y", "c=its"]
        );
        assert_eq!(texts("pass=ab#c"), ["pass=ab#c"]);
        let words = split(r#"h port="22""#).unwrap();
        assert!(!words[0].quoted && words[1].quoted);
        assert_eq!(words[1].column, 3);
    }

    #[test]
    fn unterminated_quote_names_its_column() {
        let (column, message) = split("h a='oops").unwrap_err();
        assert_eq!(column, 5);
        assert!(message.contains("unterminated"), "{message}");
    }
}
