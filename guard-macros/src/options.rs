//! The options of `#[guard(...)]` and of `#[guarded(...)]` on a static: parsed and
//! validated together, every error pointing at its own token.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitStr};

/// Where the options were written: decides what is accepted and how the message
/// quotes the attribute.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// `#[guard(...)]` on a struct's field.
    Field,
    /// `#[guarded(...)]` on a static.
    Static,
    /// `#[guarded(...)]` on a struct: only `crate`, the map options go on the fields.
    Struct,
    /// `#[guarded(...)]` on a fn: only `crate`.
    Fn,
}

const FIELD_OPTIONS: &str = "name, scope, mode, window_ms, backtrace, reaction, skip";
const STATIC_OPTIONS: &str = "name, scope, mode, window_ms, backtrace, reaction, crate";
const ITEM_OPTIONS: &str = "crate";
const MAX_WINDOW_MS: u64 = 3_600_000;
/// The integer suffixes a `window_ms` literal may carry (`50u64`); a unit such as
/// `2s` is refused, not read as 2.
const INT_SUFFIXES: &[&str] = &[
    "", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
];

/// What one declaration asks for; `None` keeps the global setting.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) name: Option<LitStr>,
    /// The variant of `Scope`, `Mode`, `BacktraceMode` named.
    pub(crate) scope: Option<&'static str>,
    pub(crate) mode: Option<&'static str>,
    pub(crate) window_ms: Option<u64>,
    pub(crate) backtrace: Option<&'static str>,
    pub(crate) panic: Option<bool>,
    pub(crate) skip: bool,
    /// `crate = "path"`: where mapguard is, for a renamed dependency or a facade.
    pub(crate) krate: Option<syn::Path>,
}

/// Parses and validates `tokens` (what is inside the parentheses). `written` is the
/// attribute as the user wrote it, quoted in every message. Returns the options read,
/// each bad one left unset (at its global setting), and the errors, if any: a
/// mistake in one option keeps the others.
pub(crate) fn parse(
    tokens: TokenStream,
    place: Place,
    written: &str,
) -> (Options, Option<syn::Error>) {
    let mut opts = Options::default();
    let mut seen: Vec<String> = Vec::new();
    let mut errors: Vec<syn::Error> = Vec::new();
    let mut skip_span: Option<Span> = None;
    let mut other_span: Option<Span> = None;
    let accepted = match place {
        Place::Field => FIELD_OPTIONS,
        Place::Static => STATIC_OPTIONS,
        Place::Struct | Place::Fn => ITEM_OPTIONS,
    };
    // On a struct or a fn, a map option is a misplaced one: say where it goes.
    let unknown = |ident: &str| -> String {
        match place {
            Place::Struct if FIELD_OPTIONS.split(", ").any(|o| o == ident) => format!(
                "`{written}` on a struct takes no map options: accepted `crate = \"path\"`; \
                 `{ident}` goes on each field, like `#[guard(scope = \"key\")]`"
            ),
            Place::Struct => format!(
                "unknown option `{ident}` in `{written}` on a struct: accepted `crate = \"path\"`, with the map options on each field, like `#[guard(scope = \"key\")]`"
            ),
            Place::Fn => format!(
                "unknown option `{ident}` in `{written}` on a fn: accepted `crate = \"path\"`"
            ),
            _ => {
                format!("unknown option `{ident}` in `{written}`: accepted options are {accepted}")
            }
        }
    };
    let parser = syn::meta::parser(|meta| {
        let Some(ident) = meta.path.get_ident().map(|i| i.to_string()) else {
            let path = &meta.path;
            let shown = crate::as_written(&quote!(#path));
            errors.push(syn::Error::new_spanned(&meta.path, unknown(&shown)));
            skip_value(&meta);
            return Ok(());
        };
        if !accepted.split(", ").any(|o| o == ident) {
            errors.push(syn::Error::new_spanned(&meta.path, unknown(&ident)));
            skip_value(&meta);
            return Ok(());
        }
        if seen.contains(&ident) {
            errors.push(syn::Error::new_spanned(
                &meta.path,
                format!("duplicate option `{ident}` in `{written}`: each option is accepted once"),
            ));
            skip_value(&meta);
            return Ok(());
        }
        seen.push(ident.clone());
        if ident == "skip" && place == Place::Field {
            if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                errors.push(meta.error(format!(
                    "`skip` takes no value in `{written}`: write `#[guard(skip)]`"
                )));
                skip_value(&meta);
            }
            // Meant as `skip` whatever the value: the field stays unguarded.
            opts.skip = true;
            skip_span = Some(meta.path.span());
            return Ok(());
        }
        other_span.get_or_insert(meta.path.span());
        let value: Expr = match meta.value().and_then(|v| v.parse()) {
            Ok(v) => v,
            Err(_) => {
                errors.push(syn::Error::new_spanned(
                    &meta.path,
                    format!(
                        "option `{ident}` needs a value in `{written}`: {}",
                        expected(&ident).unwrap_or("see the accepted options")
                    ),
                ));
                skip_value(&meta);
                return Ok(());
            }
        };
        let choice = |values: &[&str]| -> Option<String> {
            match &value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) if values.contains(&s.value().as_str()) => Some(s.value()),
                _ => None,
            }
        };
        let bad = |errors: &mut Vec<syn::Error>, ident: &str| {
            let shown = crate::as_written(&quote!(#value));
            errors.push(syn::Error::new_spanned(
                &value,
                format!(
                    "invalid value {shown} for `{ident}` in `{written}`: {}",
                    expected(ident).unwrap_or("")
                ),
            ));
        };
        match ident.as_str() {
            "name" => match &value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) if !s.value().is_empty() => opts.name = Some(s.clone()),
                _ => bad(&mut errors, "name"),
            },
            "scope" => match choice(&["map", "key"]).as_deref() {
                Some("map") => opts.scope = Some("Map"),
                Some(_) => opts.scope = Some("Key"),
                None => bad(&mut errors, "scope"),
            },
            "mode" => match choice(&["writes", "accesses"]).as_deref() {
                Some("writes") => opts.mode = Some("Writes"),
                Some(_) => opts.mode = Some("Accesses"),
                None => bad(&mut errors, "mode"),
            },
            "backtrace" => match choice(&["off", "on_finding", "always"]).as_deref() {
                Some("off") => opts.backtrace = Some("Off"),
                Some("on_finding") => opts.backtrace = Some("OnFinding"),
                Some(_) => opts.backtrace = Some("Always"),
                None => bad(&mut errors, "backtrace"),
            },
            "crate" => match &value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => match s.parse::<syn::Path>() {
                    Ok(p) => opts.krate = Some(p),
                    Err(_) => bad(&mut errors, "crate"),
                },
                _ => bad(&mut errors, "crate"),
            },
            "reaction" => match choice(&["report", "panic"]).as_deref() {
                Some(r) => opts.panic = Some(r == "panic"),
                None => bad(&mut errors, "reaction"),
            },
            "window_ms" => match &value {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(i), ..
                }) if INT_SUFFIXES.contains(&i.suffix()) => match i.base10_parse::<u64>() {
                    Ok(n) if (1..=MAX_WINDOW_MS).contains(&n) => opts.window_ms = Some(n),
                    _ => bad(&mut errors, "window_ms"),
                },
                _ => bad(&mut errors, "window_ms"),
            },
            // Every accepted option has an arm above; `skip` returned earlier.
            _ => {}
        }
        Ok(())
    });
    if let Err(e) = parser.parse2(tokens) {
        errors.push(syn::Error::new(
            e.span(),
            format!("cannot read `{written}`: options are written `key = value`, separated by commas ({accepted})"),
        ));
    }
    if let (Some(s), Some(_)) = (skip_span, other_span) {
        errors.push(syn::Error::new(
            s,
            format!("`skip` leaves the field unguarded, so it takes no other option: `{written}`"),
        ));
    }
    (opts, crate::combine(errors))
}

/// What an option accepts, for its messages.
fn expected(option: &str) -> Option<&'static str> {
    Some(match option {
        "name" => "accepted a non-empty string, like name = \"orders\"",
        "scope" => "accepted \"map\", \"key\"",
        "mode" => "accepted \"writes\", \"accesses\"",
        "backtrace" => "accepted \"off\", \"on_finding\", \"always\"",
        "reaction" => "accepted \"report\", \"panic\"",
        "window_ms" => "accepted a whole number of milliseconds from 1 to 3600000, with no unit",
        "crate" => "accepted a path to mapguard as a string, like crate = \"my_facade::mapguard\"",
        _ => return None,
    })
}

/// Consumes `= value` after an option that is being rejected, so the parser goes on.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) {
    if meta.input.peek(syn::Token![=]) {
        let _ = meta.value().and_then(|v| v.parse::<Expr>());
    } else if meta.input.peek(syn::token::Paren) {
        // `option(...)`: the whole group, whatever is inside, so that one mistake
        // gives one error.
        let _ = meta.input.parse::<proc_macro2::TokenTree>();
    }
}

impl Options {
    /// The path to mapguard in the expansion: `crate = "path"`, or `::mapguard`.
    pub(crate) fn krate(&self) -> TokenStream {
        match &self.krate {
            Some(p) => quote!(#p),
            None => quote!(::mapguard),
        }
    }

    /// `impl Declaration for marker` with these options and `name` unless one was
    /// given (`name` is an expression of type `&'static str`); `krate` is where
    /// mapguard is.
    pub(crate) fn declaration(
        &self,
        krate: &TokenStream,
        marker: &syn::Ident,
        name: TokenStream,
    ) -> TokenStream {
        let name = match &self.name {
            Some(n) => quote!(#n),
            None => name,
        };
        let some = |t: Option<TokenStream>| match t {
            Some(t) => quote!(::core::option::Option::Some(#t)),
            None => quote!(::core::option::Option::None),
        };
        let variant = |ty: &str, v: Option<&str>| {
            v.map(|v| {
                let ty = syn::Ident::new(ty, Span::call_site());
                let v = syn::Ident::new(v, Span::call_site());
                quote!(#krate::#ty::#v)
            })
        };
        let scope = some(variant("Scope", self.scope));
        let mode = some(variant("Mode", self.mode));
        let backtrace = some(variant("BacktraceMode", self.backtrace));
        let window = some(self.window_ms.map(|w| quote!(#w)));
        let panic = some(self.panic.map(|p| quote!(#p)));
        quote! {
            impl #krate::__private::Declaration for #marker {
                fn declared() -> #krate::__private::Declared {
                    #krate::__private::Declared {
                        name: #name,
                        scope: #scope,
                        mode: #mode,
                        window_ms: #window,
                        backtrace: #backtrace,
                        panic: #panic,
                    }
                }
            }
        }
    }
}
