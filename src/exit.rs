//! Process exit codes, documented in the README. Scripts and cron jobs rely
//! on them, so they never change meaning.

/// Everything succeeded on every host.
pub const OK: u8 = 0;
/// herd itself failed (I/O error, store error, bug).
pub const ERROR: u8 = 1;
/// Bad input: command line, inventory, project file or pattern.
pub const BAD_INPUT: u8 = 2;
/// At least one host ran the command and it failed (non-zero exit, timeout).
pub const FAILED: u8 = 3;
/// At least one host could not be reached or authenticated.
pub const UNREACHABLE: u8 = 4;
/// Interrupted by Ctrl-C (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// An error that decides which exit code it means: [`BAD_INPUT`] when the
/// admin can fix their input, [`ERROR`] when herd itself failed. Every
/// typed error that can reach the command line implements it next to its
/// definition, through [`bad_input!`] or [`code!`] (never by hand: those
/// also register the type, so the binary's edge finds it, see [`code_of`]).
pub trait Code: std::error::Error {
    fn exit_code(&self) -> u8;
}

/// Asks one cause of a failure for its code, if it is of one registered type.
pub type Decide = fn(&(dyn std::error::Error + 'static)) -> Option<u8>;

/// One [`Decide`] per type that implements [`Code`], gathered at link time
/// from beside each type's definition. Stable Rust cannot ask a `dyn Error`
/// whether it implements a trait, only whether it is a given type.
#[linkme::distributed_slice]
pub static CODED: [Decide];

/// The code `cause` decides, if its type implements [`Code`].
pub fn code_of(cause: &(dyn std::error::Error + 'static)) -> Option<u8> {
    CODED.iter().find_map(|decide| decide(cause))
}

/// The [`Decide`] of type `E`; [`code!`] registers it in [`CODED`].
pub fn decide<E: Code + 'static>(cause: &(dyn std::error::Error + 'static)) -> Option<u8> {
    cause.downcast_ref::<E>().map(Code::exit_code)
}

/// Implements [`Code`] for an error type and registers it, the code
/// computed from the error (bound to the given name):
/// `exit::code!(MyError, |err| match err { MyError::Io { .. } => exit::ERROR, _ => exit::BAD_INPUT });`
macro_rules! code {
    ($ty:ty, |$err:ident| $code:expr) => {
        impl $crate::exit::Code for $ty {
            fn exit_code(&self) -> u8 {
                // So the code may ask a wrapped error: `Wrapped(e) => e.exit_code()`.
                #[allow(unused_imports)]
                use $crate::exit::Code as _;
                let $err = self;
                $code
            }
        }
        const _: () = {
            #[::linkme::distributed_slice($crate::exit::CODED)]
            static DECIDE: $crate::exit::Decide = $crate::exit::decide::<$ty>;
        };
    };
}
pub(crate) use code;

/// Implements [`Code`] (through [`code!`]) for error types that are always
/// bad input.
macro_rules! bad_input {
    ($($ty:ty),+ $(,)?) => {
        $($crate::exit::code!($ty, |_err| $crate::exit::BAD_INPUT);)+
    };
}
pub(crate) use bad_input;

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Every `.rs` file under src/ but this one, with its text.
    fn sources() -> Vec<(String, String)> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        let mut dirs = vec![src.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") && path != src.join("exit.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    files.push((path.display().to_string(), text));
                }
            }
        }
        files
    }

    /// A hand-written `impl Code for` would never be asked: the edge only
    /// finds the types that [`code!`] registered.
    #[test]
    fn code_is_only_implemented_through_the_macros() {
        let by_hand = regex::Regex::new(r"\bimpl\b[^{;]*\bCode\s+for\b").unwrap();
        for (path, text) in sources() {
            if let Some(found) = by_hand.find(&text) {
                panic!(
                    "{path}: `{}`: implement exit::Code with exit::code! or exit::bad_input!, \
                     which register the type for the binary's edge",
                    found.as_str()
                );
            }
        }
    }

    /// Every type the macros name is in the slice: none was lost at link time.
    #[test]
    fn every_code_type_is_registered() {
        let bad_input = regex::Regex::new(r"\bbad_input!\s*\(([^)]*)\)").unwrap();
        let code = regex::Regex::new(r"\bcode!\s*\(").unwrap();
        let mut named = 0;
        for (_, text) in sources() {
            for types in bad_input.captures_iter(&text) {
                named += types[1].split(',').filter(|t| !t.trim().is_empty()).count();
            }
            named += code.find_iter(&text).count();
        }
        assert_eq!(CODED.len(), named);
    }

    #[test]
    fn a_cause_of_no_registered_type_decides_nothing() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(code_of(&io), None);
    }
}
