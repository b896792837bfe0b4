//! `#[guarded]` on a struct: its `#[guard]` fields become `mapguard::Guarded`.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote};
use syn::{Attribute, Fields, ItemStruct, Meta};

use crate::options::{self, Options, Place};
use crate::types;

/// One marked field, validated.
struct Marked {
    index: usize,
    opts: Options,
}

pub(crate) fn expand(args: TokenStream, mut item: ItemStruct) -> TokenStream {
    // Mistakes in the item (a field that is no map): emit it as written.
    let mut errors = Vec::new();
    // Mistakes in options: expand anyway, with the option at its global setting.
    let mut soft = Vec::new();
    let item_opts = crate::item_options(args, Place::Struct, &mut soft);
    let krate = item_opts.krate();
    // parse + validate
    let mut marked: Vec<Marked> = Vec::new();
    for (index, field) in fields(&item).enumerate() {
        for attr in field.attrs.iter() {
            if let Some(e) = guard_in_cfg_attr(attr) {
                soft.push(e);
            }
        }
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("guard")) {
            if marked.iter().any(|m| m.index == index) {
                soft.push(syn::Error::new_spanned(
                    attr,
                    format!(
                        "duplicate `#[{}]` on one field: accepted one `#[guard(...)]` per field",
                        crate::as_written(&attr.meta.to_token_stream())
                    ),
                ));
                continue;
            }
            let opts = crate::soft_options(field_options(attr), &mut soft);
            if !opts.skip && types::wrap(&field.ty, &format_ident!("M"), &[], &krate).is_none() {
                let ty = &field.ty;
                errors.push(syn::Error::new_spanned(
                    ty,
                    format!(
                        "`#[{}]` cannot guard a field of type `{}`: accepted DashMap, HashMap and BTreeMap (matched by the type's last path segment), also inside Arc, RwLock or Mutex",
                        crate::as_written(&attr.meta.to_token_stream()),
                        crate::as_written(&ty.to_token_stream())
                    ),
                ));
                continue;
            }
            marked.push(Marked { index, opts });
        }
    }
    strip_guard_attrs(&mut item);
    if let Some(out) = crate::unexpanded(&item, errors, &soft) {
        return out;
    }
    // expand
    // `r#match` is named `match`, as fields and statics are.
    let struct_name = syn::ext::IdentExt::unraw(&item.ident).to_string();
    let vis = item.vis.clone();
    let mut extra = TokenStream::new();
    let fields: Vec<&mut syn::Field> = match &mut item.fields {
        Fields::Named(n) => n.named.iter_mut().collect(),
        Fields::Unnamed(u) => u.unnamed.iter_mut().collect(),
        Fields::Unit => Vec::new(),
    };
    for (index, field) in fields.into_iter().enumerate() {
        let Some(m) = marked.iter().find(|m| m.index == index) else {
            continue;
        };
        if m.opts.skip {
            continue;
        }
        let field_name = field.ident.as_ref().map_or_else(
            || index.to_string(),
            |i| syn::ext::IdentExt::unraw(i).to_string(),
        );
        // Lengths first, so that no other struct and field give the same name
        // (`A_b` + `c` and `A` + `b_c` did).
        let marker = format_ident!(
            "__mapguard_field_{}{}_{}{}",
            struct_name.len(),
            struct_name,
            field_name.len(),
            field_name
        );
        let Some(ty) = types::wrap(&field.ty, &marker, &[], &krate) else {
            continue;
        };
        field.ty = ty;
        let name = format!("{struct_name}.{field_name}");
        let declaration = m.opts.declaration(&krate, &marker, quote!(#name));
        let doc = format!("The declaration of `{name}` (`#[guard]`).");
        // A field compiled only under a `cfg` (two alternatives of one field are
        // common) has its marker under the same `cfg`.
        let cfgs: Vec<&Attribute> = field
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("cfg"))
            .collect();
        extra.extend(crate::marker_type(&vis, &marker, &doc, &cfgs, declaration));
    }
    let mut out = item.into_token_stream();
    out.extend(extra);
    crate::with_errors(out, soft)
}

fn fields(item: &ItemStruct) -> impl Iterator<Item = &syn::Field> {
    item.fields.iter()
}

/// The options of one `#[guard]` / `#[guard(...)]` attribute.
fn field_options(attr: &Attribute) -> (Options, Option<syn::Error>) {
    let written = format!("#[{}]", crate::as_written(&attr.meta.to_token_stream()));
    match &attr.meta {
        Meta::Path(_) => (Options::default(), None),
        Meta::List(l) => options::parse(l.tokens.clone(), Place::Field, &written),
        Meta::NameValue(nv) => (
            Options::default(),
            Some(syn::Error::new_spanned(
                nv,
                format!(
                    "cannot read `{written}`: accepted `#[guard]` or `#[guard(option = value, ...)]`"
                ),
            )),
        ),
    }
}

/// An error for `#[cfg_attr(pred, guard...)]`: `#[guarded]` runs before `cfg_attr`
/// is expanded, so it cannot see that `#[guard]`, and rustc would later fail on it as
/// an unknown attribute.
fn guard_in_cfg_attr(attr: &Attribute) -> Option<syn::Error> {
    let (_, attrs) = cfg_attr_parts(attr)?;
    let guard = attrs.iter().find(|m| m.path().is_ident("guard"))?;
    Some(syn::Error::new_spanned(
        guard,
        format!(
            "`#[guarded]` cannot see a `#[guard]` inside `#[{}]` (it runs before `cfg_attr` is expanded): write `#[{}]` on the field itself; to build without the checks, use mapguard's feature `compile-out`, or put two versions of the field under `#[cfg]`",
            crate::as_written(&attr.meta.to_token_stream()),
            crate::as_written(&guard.to_token_stream()),
        ),
    ))
}

/// Removes the `#[guard]` helpers, also from inside a `cfg_attr` (reported by
/// [`guard_in_cfg_attr`]; left there, rustc would add an "unknown attribute" error).
fn strip_guard_attrs(item: &mut ItemStruct) {
    for f in item.fields.iter_mut() {
        f.attrs.retain(|a| !a.path().is_ident("guard"));
        f.attrs.retain_mut(|a| {
            let Some((predicate, attrs)) = cfg_attr_parts(a) else {
                return true;
            };
            let rest: Vec<Meta> = attrs
                .into_iter()
                .filter(|m| !m.path().is_ident("guard"))
                .collect();
            if rest.is_empty() {
                return false;
            }
            a.meta = syn::parse_quote!(cfg_attr(#predicate, #(#rest),*));
            true
        });
    }
}

/// `#[cfg_attr(predicate, attrs...)]` taken apart; `None` for any other attribute.
fn cfg_attr_parts(attr: &Attribute) -> Option<(Meta, Vec<Meta>)> {
    if !attr.path().is_ident("cfg_attr") {
        return None;
    }
    let nested = attr
        .meta
        .require_list()
        .ok()?
        .parse_args_with(syn::punctuated::Punctuated::<Meta, syn::Token![,]>::parse_terminated)
        .ok()?;
    let mut parts = nested.into_iter();
    let predicate = parts.next()?;
    Some((predicate, parts.collect()))
}
