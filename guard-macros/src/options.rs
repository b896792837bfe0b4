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
    Field,
    Static,
}

const FIELD_OPTIONS: &str = "name, scope, mode, window_ms, backtrace, reaction, skip";
const STATIC_OPTIONS: &str = "name, scope, mode, window_ms, backtrace, reaction";
const MAX_WINDOW_MS: u64 = 3_600_000;

/// What one declaration asks for; `None` keeps the global setting.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) name: Option<LitStr>,
    pub(crate) scope: Option<TokenStream>,
    pub(crate) mode: Option<TokenStream>,
    pub(crate) window_ms: Option<u64>,
    pub(crate) backtrace: Option<TokenStream>,
    pub(crate) panic: Option<bool>,
    pub(crate) skip: bool,
}

/// Parses and validates `tokens` (what is inside the parentheses). `written` is the
/// attribute as the user wrote it, quoted in every message.
pub(crate) fn parse(
    tokens: TokenStream,
    place: Place,
    written: &str,
) -> Result<Options, syn::Error> {
    let mut opts = Options::default();
    let mut seen: Vec<String> = Vec::new();
    let mut errors: Vec<syn::Error> = Vec::new();
    let mut skip_span: Option<Span> = None;
    let mut other_span: Option<Span> = None;
    let accepted = match place {
        Place::Field => FIELD_OPTIONS,
        Place::Static => STATIC_OPTIONS,
    };
    let parser = syn::meta::parser(|meta| {
        let Some(ident) = meta.path.get_ident().map(|i| i.to_string()) else {
            let path = &meta.path;
            let shown = crate::as_written(&quote!(#path));
            errors.push(syn::Error::new_spanned(
                &meta.path,
                format!("unknown option `{shown}` in `{written}`: accepted options are {accepted}"),
            ));
            skip_value(&meta);
            return Ok(());
        };
        if !accepted.split(", ").any(|o| o == ident) {
            errors.push(syn::Error::new_spanned(
                &meta.path,
                format!("unknown option `{ident}` in `{written}`: accepted options are {accepted}"),
            ));
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
                return Ok(());
            }
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
                Some("map") => opts.scope = Some(quote!(::mapguard::Scope::Map)),
                Some(_) => opts.scope = Some(quote!(::mapguard::Scope::Key)),
                None => bad(&mut errors, "scope"),
            },
            "mode" => match choice(&["writes", "accesses"]).as_deref() {
                Some("writes") => opts.mode = Some(quote!(::mapguard::Mode::Writes)),
                Some(_) => opts.mode = Some(quote!(::mapguard::Mode::Accesses)),
                None => bad(&mut errors, "mode"),
            },
            "backtrace" => match choice(&["off", "on_finding", "always"]).as_deref() {
                Some("off") => opts.backtrace = Some(quote!(::mapguard::BacktraceMode::Off)),
                Some("on_finding") => {
                    opts.backtrace = Some(quote!(::mapguard::BacktraceMode::OnFinding))
                }
                Some(_) => opts.backtrace = Some(quote!(::mapguard::BacktraceMode::Always)),
                None => bad(&mut errors, "backtrace"),
            },
            "reaction" => match choice(&["report", "panic"]).as_deref() {
                Some(r) => opts.panic = Some(r == "panic"),
                None => bad(&mut errors, "reaction"),
            },
            "window_ms" => match &value {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(i), ..
                }) => match i.base10_parse::<u64>() {
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
    match crate::combine(errors) {
        Some(e) => Err(e),
        None => Ok(opts),
    }
}

/// What an option accepts, for its messages.
fn expected(option: &str) -> Option<&'static str> {
    Some(match option {
        "name" => "accepted a non-empty string, like name = \"orders\"",
        "scope" => "accepted \"map\", \"key\"",
        "mode" => "accepted \"writes\", \"accesses\"",
        "backtrace" => "accepted \"off\", \"on_finding\", \"always\"",
        "reaction" => "accepted \"report\", \"panic\"",
        "window_ms" => "accepted an integer from 1 to 3600000",
        _ => return None,
    })
}

/// Consumes `= value` after an option that is being rejected, so the parser goes on.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) {
    if meta.input.peek(syn::Token![=]) {
        let _ = meta.value().and_then(|v| v.parse::<Expr>());
    } else if meta.input.peek(syn::token::Paren) {
        let _ = meta.parse_nested_meta(|m| {
            skip_value(&m);
            Ok(())
        });
    }
}

impl Options {
    /// `impl Declaration for marker` with these options and `name` unless one was
    /// given (`name` is an expression of type `&'static str`).
    pub(crate) fn declaration(&self, marker: &syn::Ident, name: TokenStream) -> TokenStream {
        let name = match &self.name {
            Some(n) => quote!(#n),
            None => name,
        };
        let some = |t: &Option<TokenStream>| match t {
            Some(t) => quote!(::core::option::Option::Some(#t)),
            None => quote!(::core::option::Option::None),
        };
        let scope = some(&self.scope);
        let mode = some(&self.mode);
        let backtrace = some(&self.backtrace);
        let window = some(&self.window_ms.map(|w| quote!(#w)));
        let panic = some(&self.panic.map(|p| quote!(#p)));
        quote! {
            impl ::mapguard::__private::Declaration for #marker {
                fn declared() -> ::mapguard::__private::Declared {
                    ::mapguard::__private::Declared {
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
