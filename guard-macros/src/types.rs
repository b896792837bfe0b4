//! Which field and static types can be guarded, and what they become. Only the last
//! segment of a path is looked at (a macro sees tokens, not resolved types): a type
//! named `DashMap`, `HashMap` or `BTreeMap` is taken for that map, and `Arc`,
//! `RwLock`, `Mutex` (any crate's) for a wrapper whose first type argument is wrapped.

use proc_macro2::TokenStream;
use quote::quote_spanned;
use syn::spanned::Spanned;
use syn::{GenericArgument, PathArguments, Type};

/// The containers a map may sit in; their first type argument is what is wrapped.
pub(crate) const WRAPPERS: &[&str] = &["Arc", "RwLock", "Mutex"];
/// The lazily initialised cells a guarded static may be.
pub(crate) const CELLS: &[&str] = &["LazyLock", "OnceLock", "Lazy"];

/// The map a type names, by its last path segment.
fn map_of(ty: &Type) -> Option<&'static str> {
    let Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let last = p.path.segments.last()?;
    let map = match last.ident.to_string().as_str() {
        "DashMap" => "DashMap",
        "HashMap" => "HashMap",
        "BTreeMap" => "BTreeMap",
        _ => return None,
    };
    Some(map)
}

/// `ty` with the map inside it replaced by `<Map<..> as Guard<marker>>::Guarded`
/// (that is `mapguard::Guarded<mapguard::Map<..>, marker>`),
/// looking through `Arc`, `RwLock` and `Mutex` (and `outer`, the cells of a static,
/// at the top level only). `None` if there is no map where one is accepted.
/// `krate` is the path to mapguard.
pub(crate) fn wrap(
    ty: &Type,
    marker: &syn::Ident,
    outer: &[&str],
    krate: &TokenStream,
) -> Option<Type> {
    match ty {
        Type::Paren(p) => wrap(&p.elem, marker, outer, krate),
        Type::Group(g) => wrap(&g.elem, marker, outer, krate),
        Type::Path(p) => {
            if map_of(ty).is_some() {
                // The type as written, resolved through a trait: the user's import
                // stays used, and a type that only looks like a map (another crate's
                // `HashMap`) fails with "`Guard` is not implemented" instead of
                // silently becoming mapguard's.
                let t: TokenStream = quote_spanned!(ty.span()=>
                    <#ty as #krate::__private::Guard<#marker>>::Guarded);
                return syn::parse2(t).ok();
            }
            let last = p.path.segments.last()?;
            let name = last.ident.to_string();
            if !WRAPPERS.contains(&name.as_str()) && !outer.contains(&name.as_str()) {
                return None;
            }
            let mut out = p.clone();
            let seg = out.path.segments.last_mut()?;
            let PathArguments::AngleBracketed(a) = &mut seg.arguments else {
                return None;
            };
            let first = a.args.iter_mut().find_map(|g| match g {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })?;
            *first = wrap(first, marker, &[], krate)?;
            Some(Type::Path(out))
        }
        _ => None,
    }
}

/// True if the outermost type is one of `cells` (by last segment).
pub(crate) fn outer_is(ty: &Type, cells: &[&str]) -> Option<String> {
    let Type::Path(p) = ty else { return None };
    let name = p.path.segments.last()?.ident.to_string();
    cells.contains(&name.as_str()).then_some(name)
}
