//! `#[guarded]` on a static: a `LazyLock`, `OnceLock` or once_cell `Lazy` of a map
//! becomes the same cell of `mapguard::Guarded`, named `module::path::NAME`.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote};
use syn::{Expr, ItemStatic};

use crate::options::{self, Place};
use crate::types;

pub(crate) fn expand(args: TokenStream, mut item: ItemStatic) -> TokenStream {
    let written = crate::written_attribute(&args);
    // parse + validate
    let mut errors = Vec::new();
    // A mistake in an option still expands, with that option at its global setting.
    let mut soft = Vec::new();
    let opts = crate::soft_options(options::parse(args, Place::Static, &written), &mut soft);
    let krate = opts.krate();
    let marker = format_ident!(
        "__mapguard_static_{}",
        syn::ext::IdentExt::unraw(&item.ident)
    );
    let cell = types::outer_is(&item.ty, types::CELLS);
    let wrapped = cell
        .as_ref()
        .and_then(|_| types::wrap(&item.ty, &marker, types::CELLS, &krate))
        // In a static only a map directly in the cell: its initialiser is rewritten.
        .filter(|_| direct_map(&item.ty));
    if wrapped.is_none() {
        errors.push(syn::Error::new_spanned(
            &item.ty,
            format!(
                "`{written}` cannot guard a static of type `{}`: accepted LazyLock, OnceLock or once_cell's Lazy of a DashMap, HashMap or BTreeMap",
                crate::as_written(&item.ty.to_token_stream())
            ),
        ));
    }
    let args = cell_args(&item.ty);
    if wrapped.is_some() && args.len() > 1 {
        errors.push(syn::Error::new_spanned(
            args[1],
            format!(
                "`{written}` rewrites the initialiser, so the cell's function type cannot be written out: accepted `{}<Map>` with the default function type",
                cell.as_deref().unwrap_or("LazyLock")
            ),
        ));
    }
    let init = match cell.as_deref() {
        Some("LazyLock" | "Lazy") if wrapped.is_some() => {
            match args.first().and_then(|inner| lazy_init(&item.expr, inner)) {
                Some(e) => Some(e),
                None => {
                    errors.push(syn::Error::new_spanned(
                    &item.expr,
                    format!(
                        "`{written}` needs the initialiser written `{}::new(f)`, where `f` is a function or closure returning the plain map",
                        cell.as_deref().unwrap_or("LazyLock")
                    ),
                ));
                    None
                }
            }
        }
        _ => None,
    };
    if let Some(out) = crate::unexpanded(&item, errors, &soft) {
        return out;
    }
    // expand
    let Some(ty) = wrapped else {
        return item.into_token_stream();
    };
    item.ty = Box::new(ty);
    if let Some(init) = init {
        item.expr = Box::new(init);
    }
    let ident = syn::ext::IdentExt::unraw(&item.ident).to_string();
    let declaration = opts.declaration(
        &krate,
        &marker,
        quote!(::core::concat!(::core::module_path!(), "::", #ident)),
    );
    let vis = &item.vis;
    let doc = format!("The declaration of the static `{ident}` (`#[guarded]`).");
    let marker = crate::marker_type(vis, &marker, &doc, &[], declaration);
    let out = quote! {
        #item
        #marker
    };
    crate::with_errors(out, soft)
}

/// True if the cell's first type argument is a map itself (no lock in between).
fn direct_map(ty: &syn::Type) -> bool {
    let syn::Type::Path(p) = ty else { return false };
    let Some(seg) = p.path.segments.last() else {
        return false;
    };
    let syn::PathArguments::AngleBracketed(a) = &seg.arguments else {
        return false;
    };
    a.args.iter().any(|g| match g {
        syn::GenericArgument::Type(syn::Type::Path(t)) => t.path.segments.last().is_some_and(|s| {
            ["DashMap", "HashMap", "BTreeMap"].contains(&s.ident.to_string().as_str())
        }),
        _ => false,
    })
}

/// The type arguments of the static's cell (`LazyLock<Map>`: `Map`).
fn cell_args(ty: &syn::Type) -> Vec<&syn::Type> {
    let syn::Type::Path(p) = ty else {
        return Vec::new();
    };
    match p.path.segments.last().map(|s| &s.arguments) {
        Some(syn::PathArguments::AngleBracketed(a)) => a
            .args
            .iter()
            .filter_map(|a| match a {
                syn::GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `Cell::new(f)` becomes `Cell::new(|| From::from((f)() as the map type))`: the
/// plain map the user's initialiser builds (named by its type, so that
/// `Default::default` or `HashMap::new` infer it) is guarded with the declaration.
fn lazy_init(expr: &Expr, map: &syn::Type) -> Option<Expr> {
    let Expr::Call(call) = expr else { return None };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    if func.path.segments.last()?.ident != "new" || call.args.len() != 1 {
        return None;
    }
    let f = call.args.first()?;
    let func = &call.func;
    syn::parse2(quote!(#func(|| {
        let __mapguard_map: #map = (#f)();
        ::core::convert::From::from(__mapguard_map)
    })))
    .ok()
}
