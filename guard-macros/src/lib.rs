//! `#[mapguard::guarded]`: the attribute macro of mapguard. Use it through
//! `mapguard::guarded`; mapguard pins this crate to its own version.
//!
//! Each form is parse -> validate -> expand. Parsing and validation collect every
//! error with the token it points at. A mistake in an option (a bad value, an
//! unknown option) still expands the item, with that option left at its global
//! setting, plus the error; a mistake in the item itself (a type that is no map) gives
//! the item as written (minus the `#[guard]` helpers) plus the error. Either way one
//! mistake gives one error, not a cascade from code that no longer type-checks. With
//! feature `compile-out` (set by mapguard's `compile-out`) every expansion is the
//! plain code.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod function;
mod options;
mod statics;
mod structs;
mod types;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::ToTokens;

/// Guards the maps a struct, a static or a function declares.
///
/// - On a struct: each field marked `#[guard]` or `#[guard(...)]` (a `DashMap`,
///   `HashMap` or `BTreeMap`, also inside `Arc`, `RwLock` or `Mutex`) becomes
///   `mapguard::Guarded<the mapguard map, a marker>`, named `Struct.field`, built
///   with its options by `Default::default()` or `From`/`.into()` of the plain map.
/// - On a `static` `LazyLock`, `OnceLock` or once_cell `Lazy` of a map: the same,
///   named `module::path::NAME`.
/// - On a fn or `async fn`: map accesses made while it runs (or while its future is
///   polled) carry its module path and name as `code.function.name`.
///
/// Options (on `#[guard(...)]` and on a static): `name = "..."`,
/// `scope = "map" | "key"`, `mode = "writes" | "accesses"`, `window_ms = N`,
/// `backtrace = "off" | "on_finding" | "always"`, `reaction = "report" | "panic"`;
/// `#[guard(skip)]` leaves a field as written. On a struct, a static or a fn,
/// `crate = "path"` names where mapguard is when it is not `::mapguard` (a renamed
/// dependency, a facade crate that re-exports it), as serde's `crate` does.
///
/// Costs: on a struct, nothing beyond the maps; on a static, the map is built on
/// first access (as a `LazyLock`: threads arriving then wait for it); on a fn, each
/// call (each poll of an `async fn`) one relaxed load with the guard off and a
/// thread-local swap in and out with it on. Nothing with `compile-out`.
#[proc_macro_attribute]
pub fn guarded(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args.into(), item.into()).into()
}

fn expand(args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let parsed: syn::Item = match syn::parse2(item.clone()) {
        Ok(i) => i,
        Err(e) => {
            let mut out = item;
            out.extend(e.to_compile_error());
            return out;
        }
    };
    match parsed {
        syn::Item::Struct(s) => structs::expand(args, s),
        syn::Item::Static(s) => statics::expand(args, s),
        syn::Item::Fn(f) => function::expand(args, f),
        // A fn with no body (a trait's required method) parses as verbatim tokens.
        syn::Item::Verbatim(v) if has_fn_token(&v) => {
            let e = syn::Error::new_spanned(
                &v,
                "`#[guarded]` needs a fn with a body: attribute the method in each impl, \
                 or give the trait's method a default body",
            );
            let mut out = v;
            out.extend(e.to_compile_error());
            out
        }
        other => {
            let e = syn::Error::new_spanned(
                item_keyword(&other),
                "`#[guarded]` applies to a struct, a static or a fn: accepted items are \
                 `struct`, `static` and `fn`",
            );
            let mut out = other.into_token_stream();
            out.extend(e.to_compile_error());
            out
        }
    }
}

/// The token to point at for an item the attribute does not apply to.
fn item_keyword(item: &syn::Item) -> TokenStream2 {
    match item {
        syn::Item::Enum(i) => i.enum_token.into_token_stream(),
        syn::Item::Union(i) => i.union_token.into_token_stream(),
        syn::Item::Impl(i) => i.impl_token.into_token_stream(),
        syn::Item::Trait(i) => i.trait_token.into_token_stream(),
        syn::Item::Const(i) => i.const_token.into_token_stream(),
        syn::Item::Mod(i) => i.mod_token.into_token_stream(),
        syn::Item::Type(i) => i.type_token.into_token_stream(),
        other => other.into_token_stream(),
    }
}

/// True if verbatim item tokens are a fn's (`fn name(...);`, no body): after any
/// attributes, visibility and qualifiers (`pub(crate)`, `const`, `async`, `unsafe`,
/// `extern "C"`, `default`), the keyword `fn`.
fn has_fn_token(tokens: &TokenStream2) -> bool {
    use proc_macro2::TokenTree;
    let mut it = tokens.clone().into_iter();
    while let Some(t) = it.next() {
        match &t {
            // `#[attr]`: the bracketed group follows.
            TokenTree::Punct(p) if p.as_char() == '#' => {
                it.next();
            }
            // `pub(crate)`'s group, `extern "C"`'s literal.
            TokenTree::Group(_) | TokenTree::Literal(_) => {}
            TokenTree::Ident(i) if i == "fn" => return true,
            TokenTree::Ident(i)
                if [
                    "pub", "const", "async", "unsafe", "extern", "default", "safe",
                ]
                .iter()
                .any(|q| i == q) => {}
            _ => return false,
        }
    }
    false
}

/// What to emit instead of an expansion, if anything: the item as written plus every
/// error (`errors` are mistakes in the item itself, which no expansion can mend), or,
/// with feature `compile-out`, the item as written plus the option errors `soft`.
/// `None`: expand (and add `soft` with [`with_errors`]).
fn unexpanded(
    item: &impl quote::ToTokens,
    errors: Vec<syn::Error>,
    soft: &[syn::Error],
) -> Option<TokenStream2> {
    if !errors.is_empty() {
        let all = errors.into_iter().chain(soft.iter().cloned()).collect();
        return Some(with_errors(item.to_token_stream(), all));
    }
    cfg!(feature = "compile-out").then(|| with_errors(item.to_token_stream(), soft.to_vec()))
}

/// The options parsed ([`options::parse`]), their errors kept in `soft`: a mistake
/// in an option still expands the item, with that option at its global setting.
fn soft_options(
    (opts, error): (options::Options, Option<syn::Error>),
    soft: &mut Vec<syn::Error>,
) -> options::Options {
    soft.extend(error);
    opts
}

/// The options of `#[guarded(args)]` on an item, their errors kept in `soft`.
fn item_options(
    args: TokenStream2,
    place: options::Place,
    soft: &mut Vec<syn::Error>,
) -> options::Options {
    let written = written_attribute(&args);
    soft_options(options::parse(args, place, &written), soft)
}

/// `#[guarded(args)]` as the user wrote it, for messages.
fn written_attribute(args: &TokenStream2) -> String {
    if args.is_empty() {
        "#[guarded]".to_owned()
    } else {
        format!("#[{}]", as_written(&quote::quote!(guarded(#args))))
    }
}

/// `out` followed by every error, each at its own token.
fn with_errors(mut out: TokenStream2, errors: Vec<syn::Error>) -> TokenStream2 {
    if let Some(e) = combine(errors) {
        out.extend(e.to_compile_error());
    }
    out
}

/// The zero-sized marker type that carries a declaration's name and options, and
/// the declaration itself (the trait impl tying them together).
fn marker_type(
    vis: &syn::Visibility,
    marker: &syn::Ident,
    doc: &str,
    cfgs: &[&syn::Attribute],
    declaration: TokenStream2,
) -> TokenStream2 {
    quote::quote! {
        #(#cfgs)*
        #[doc = #doc]
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy)]
        #vis struct #marker;
        #(#cfgs)*
        #declaration
    }
}

/// Joins errors into one `syn::Error` (each keeps its own span).
fn combine(errors: Vec<syn::Error>) -> Option<syn::Error> {
    errors.into_iter().reduce(|mut a, b| {
        a.combine(b);
        a
    })
}

/// Tokens as the user wrote them, near enough to quote in a message:
/// `guard(scope = "key")`, not `guard (scope = "key")`.
fn as_written(tokens: &TokenStream2) -> String {
    let s = tokens.to_string();
    let mut out = String::with_capacity(s.len());
    let mut in_str = false;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' && (i == 0 || chars[i - 1] != '\\') {
            in_str = !in_str;
        }
        if !in_str && c == ' ' {
            let prev = out.chars().last();
            let next = chars.get(i + 1).copied();
            let drop_space = matches!(next, Some('(' | ')' | ',' | '<' | '>' | ':' | '.'))
                || matches!(prev, Some('(' | '<' | ':' | '&' | '.'));
            if drop_space {
                i += 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{as_written, expand};
    use crate::options::{Place, parse};
    use quote::quote;

    /// Every identifier in `tokens`, at any depth.
    fn idents(tokens: proc_macro2::TokenStream, out: &mut Vec<String>) {
        for t in tokens {
            match t {
                proc_macro2::TokenTree::Ident(i) => out.push(i.to_string()),
                proc_macro2::TokenTree::Group(g) => idents(g.stream(), out),
                _ => {}
            }
        }
    }

    #[test]
    fn a_bad_option_keeps_the_others() {
        let (opts, err) = parse(
            quote!(scope = "shard", window_ms = 5, name = "kept"),
            Place::Field,
            "#[guard(...)]",
        );
        assert!(err.is_some());
        assert_eq!(opts.scope, None, "the bad one is at its global setting");
        assert_eq!(opts.window_ms, Some(5));
        assert_eq!(opts.name.map(|n| n.value()).as_deref(), Some("kept"));
        let (opts, err) = parse(
            quote!(crate = "f::m", nope = 1),
            Place::Struct,
            "#[guarded(...)]",
        );
        assert!(err.is_some());
        assert!(opts.krate.is_some(), "crate survives a bad neighbour");
        // `skip = true` is an error, but meant as skip.
        let (opts, err) = parse(quote!(skip = true), Place::Field, "#[guard(skip = true)]");
        assert!(err.is_some() && opts.skip);
    }

    #[test]
    fn crate_path_replaces_every_mapguard_path() {
        for (args, item) in [
            (
                quote!(crate = "f::m"),
                quote!(
                    struct S {
                        #[guard]
                        a: dashmap::DashMap<u64, u64>,
                        #[guard(scope = "key")]
                        b: std::collections::HashMap<u64, u64>,
                    }
                ),
            ),
            (
                quote!(crate = "f::m", scope = "key"),
                quote!(
                    static M: std::sync::LazyLock<dashmap::DashMap<u64, u64>> =
                        std::sync::LazyLock::new(dashmap::DashMap::new);
                ),
            ),
            (
                quote!(crate = "f::m"),
                quote!(
                    fn place(x: u64) -> u64 {
                        x
                    }
                ),
            ),
            (
                quote!(crate = "f::m"),
                quote!(
                    async fn place(x: u64) -> u64 {
                        x
                    }
                ),
            ),
            // A bad option beside it still leaves the path in place.
            (
                quote!(crate = "f::m", nope = 1),
                quote!(
                    fn place(x: u64) -> u64 {
                        x
                    }
                ),
            ),
        ] {
            let out = expand(args, item.clone());
            let mut all = Vec::new();
            idents(out.clone(), &mut all);
            assert!(!all.iter().any(|i| i == "mapguard"), "{item}: {out}");
            assert!(all.iter().any(|i| i == "f"), "{item}: {out}");
        }
    }

    #[test]
    fn a_mistake_in_the_item_shows_the_option_errors_too() {
        // The field is no map (a hard error) and its option is bad (a soft one):
        // both are reported.
        let out = expand(
            quote!(),
            quote!(
                struct S {
                    #[guard(scope = "shard")]
                    n: u64,
                }
            ),
        )
        .to_string();
        assert!(out.contains("cannot guard a field of type"), "{out}");
        assert!(out.contains("invalid value"), "{out}");
    }

    #[test]
    fn as_written_reads_like_source() {
        assert_eq!(
            as_written(&quote!(guard(scope = "key", window_ms = 50))),
            r#"guard(scope = "key", window_ms = 50)"#
        );
        assert_eq!(
            as_written(&quote!(std::sync::RwLock<HashMap<u64, String>>)),
            "std::sync::RwLock<HashMap<u64, String>>"
        );
        assert_eq!(
            as_written(&quote!(guard(name = "a (b)"))),
            r#"guard(name = "a (b)")"#
        );
    }
}
