//! The config's named choices: [`Schedule`] and [`Affinity`], the keys whose
//! value is one of a few words (`"schedule": "fixed-delay"`).
//!
//! Each word is written once, beside its variant, in a `choices!` list: the
//! same word is what the config accepts ([`FromStr`]), what the report and
//! `omclient config` print ([`Schedule::name`], `Serialize`), and what an
//! error lists when a word is not accepted ([`UnknownName`]). Written apart,
//! the parser, the printer and serde's renaming could disagree about a name.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A word that is none of a choice's names; it lists the accepted ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    accepted: &'static [&'static str],
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}", one_of(self.accepted))
    }
}

impl std::error::Error for UnknownName {}

/// `one of a, b, c`: how every error lists a key's accepted words.
pub(super) fn one_of(names: &[&str]) -> String {
    format!("one of {}", names.join(", "))
}

/// A config value that is one of a few names. The parser reads a JSON
/// string with [`FromStr`]; `NAMES` is for the error when the value is no
/// string at all (`"schedule": 5`), where there is nothing to parse.
pub(super) trait Choice: FromStr<Err = UnknownName> {
    /// Every accepted name, in the order errors list them.
    const NAMES: &'static [&'static str];
}

/// Declares an enum whose variants each have one config name: the enum
/// itself, `name`, `FromStr` and serde's spelling, all from one list.
macro_rules! choices {
    (
        $(#[$meta:meta])*
        pub(crate) enum $Enum:ident {
            $( $(#[$variant_meta:meta])* $Variant:ident = $name:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        pub enum $Enum {
            $( $(#[$variant_meta])* #[serde(rename = $name)] $Variant, )+
        }

        impl $Enum {
            /// The name used in the config file and the report.
            pub fn name(self) -> &'static str {
                match self {
                    $( $Enum::$Variant => $name, )+
                }
            }
        }

        impl Choice for $Enum {
            const NAMES: &'static [&'static str] = &[$($name),+];
        }

        impl FromStr for $Enum {
            type Err = UnknownName;

            /// The variant a config name stands for (exact spelling only).
            fn from_str(s: &str) -> Result<$Enum, UnknownName> {
                match s {
                    $( $name => Ok($Enum::$Variant), )+
                    _ => Err(UnknownName {
                        accepted: <$Enum as Choice>::NAMES,
                    }),
                }
            }
        }
    };
}

choices! {
    /// How a client link paces its updates.
    pub(crate) enum Schedule {
        /// The k-th update of a link is due at `start + k * interval`, whatever
        /// the previous round trip cost. A late tick is sent at once and counted.
        FixedRate = "fixed-rate",
        /// The seed's loop: send, wait for the ack, sleep the interval. The rate
        /// is `1 / (interval + round trip + sleep overshoot)`, always below target.
        FixedDelay = "fixed-delay",
        /// No pause at all: the next update goes as soon as the ack arrives. For
        /// finding the model's ceiling, not for reproducing the seed.
        ClosedLoop = "closed-loop",
    }
}

choices! {
    /// Where link threads run (see `sys::affinity`).
    pub(crate) enum Affinity {
        /// Both ends of a link on the CPU chosen by the server's port.
        ByServer = "by-server",
        /// Wherever the OS scheduler puts them.
        Off = "off",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_serialize_as_written() {
        for s in [
            Schedule::FixedRate,
            Schedule::FixedDelay,
            Schedule::ClosedLoop,
        ] {
            assert_eq!(s.name().parse::<Schedule>(), Ok(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.name()));
        }
        for a in [Affinity::ByServer, Affinity::Off] {
            assert_eq!(a.name().parse::<Affinity>(), Ok(a));
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.name()));
        }
    }

    #[test]
    fn unknown_names_list_the_accepted_ones() {
        let e = "Fixed-Rate".parse::<Schedule>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected one of fixed-rate, fixed-delay, closed-loop"
        );
        let e = "on".parse::<Affinity>().unwrap_err();
        assert_eq!(e.to_string(), "expected one of by-server, off");
    }
}
