//! The `config_keys!` macro, which turns the key table in `mod.rs` into the
//! `Config` struct, its `Default`, the `KEYS` list and the parser. One
//! entry per key writes all four, so they cannot disagree (a key missing
//! from the parser would be refused as unknown; one missing from the list
//! would never be suggested; docs/DECISIONS.md, "Smaller stories"):
//!
//! ```text
//! /// Client processes started on each host.     <- the field's doc
//! client_num_per_host: u32 = 100, Whole(0..=100_000);
//! //  key / field        type  default  rule (rules.rs)
//! ```
//!
//! A plain `macro_rules!` rather than a derive: it needs no proc-macro crate,
//! and what it writes is ordinary code one can read off the pattern below.

/// Declares the config struct from its key table; see the module doc.
///
/// For each entry `$(#[attr])* key: Type = default, rule;` it writes:
/// * the field `pub key: Type` with the entry's attributes (its doc comment,
///   and any serde attribute such as `#[serde(skip_serializing)]`);
/// * `key: default` in `impl Default`;
/// * `"key"` in `KEYS`, in table order;
/// * a `"key"` arm in `Config::set`, which reads the value with `rule`
///   (a `Rule` for `Type`, from `rules.rs`) and sends any other name
///   to `unknown_key`, the "did you mean" error.
macro_rules! config_keys {
    (
        $(#[$struct_attr:meta])*
        pub(crate) struct $Config:ident {
            $(
                $(#[$field_attr:meta])*
                $key:ident: $ty:ty = $default:expr, $rule:expr;
            )+
        }
    ) => {
        $(#[$struct_attr])*
        pub struct $Config {
            $(
                $(#[$field_attr])*
                pub $key: $ty,
            )+
        }

        impl Default for $Config {
            fn default() -> $Config {
                $Config {
                    $( $key: $default, )+
                }
            }
        }

        /// Every key the config accepts, in table order: for the unknown-key
        /// suggestion and the docs test.
        pub const KEYS: &[&str] = &[$( stringify!($key) ),+];

        impl $Config {
            /// Reads `v` into the field named `key` by that key's rule; a name
            /// no entry has is refused with the closest known key.
            fn set(&mut self, key: &str, v: &Value) -> Result<()> {
                match key {
                    $( stringify!($key) => self.$key = Rule::<$ty>::parse(&$rule, key, v)?, )+
                    unknown => return Err(unknown_key(unknown)),
                }
                Ok(())
            }
        }
    };
}

pub(super) use config_keys;
