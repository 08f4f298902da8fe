//! The enums of the corpus that are known by name ([`crate::Instrument`],
//! [`crate::DrumStyle`]): each variant is declared once, with its snake-case name, the
//! spelling of tags, manifests and config files.

/// Declares a named enum: the enum (serialised by its snake-case name), `ALL` in
/// declaration order, `name`, `Display` (the name), `FromStr` and the error of a name that
/// is not a variant. `FromStr` trims the text, passes it through the `parse` closure (for
/// accepted spellings other than the name) and looks the result up.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $ty:ident {
            $($(#[$variant_meta:meta])* $variant:ident => $name:literal,)+
        }
        $(#[$error_meta:meta])*
        pub struct $error:ident(pub String) = $what:literal;
        parse = |$text:ident| $parse:expr;
    ) => {
        $(#[$meta])*
        #[derive(
            Clone,
            Copy,
            Debug,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            ::serde::Serialize,
            ::serde::Deserialize,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum $ty {
            $($(#[$variant_meta])* $variant,)+
        }

        $(#[$error_meta])*
        #[derive(Debug, Clone, PartialEq, Eq, ::thiserror::Error)]
        #[error(
            "'{0}' {what}: expected one of {names}",
            what = $what,
            names = $ty::ALL.map($ty::name).join(", ")
        )]
        pub struct $error(pub String);

        impl $ty {
            /// Every variant, in declaration (tag-vocabulary) order.
            pub const ALL: [$ty; [$(stringify!($variant)),+].len()] = [$($ty::$variant),+];

            /// The snake-case name, as in tags, manifests and ids.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                let $text = text.trim();
                let wanted: &str = $parse;
                $ty::ALL
                    .into_iter()
                    .find(|v| v.name() == wanted)
                    .ok_or_else(|| $error(wanted.to_string()))
            }
        }
    };
}

pub(crate) use named_enum;
