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
    let mut errors = Vec::new();
    if !args.is_empty() {
        let written = crate::as_written(&quote!(guarded(#args)));
        errors.push(syn::Error::new_spanned(
            &args,
            format!(
                "`#[{written}]` on a struct takes no options: accepted `#[guarded]`, with the options on each field, like `#[guard(scope = \"key\")]`"
            ),
        ));
    }
    // parse + validate
    let mut marked = Vec::new();
    for (index, field) in fields(&item).enumerate() {
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("guard")) {
            match field_options(attr) {
                Ok(opts) => {
                    if marked.iter().any(|m: &Marked| m.index == index) {
                        errors.push(syn::Error::new_spanned(
                            attr,
                            format!(
                                "duplicate `#[{}]` on one field: accepted one `#[guard(...)]` per field",
                                crate::as_written(&attr.meta.to_token_stream())
                            ),
                        ));
                        continue;
                    }
                    if !opts.skip && types::wrap(&field.ty, &format_ident!("M"), &[]).is_none() {
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
                Err(e) => errors.push(e),
            }
        }
    }
    strip_guard_attrs(&mut item);
    if let Some(out) = crate::unexpanded(&item, errors) {
        return out;
    }
    // expand
    let struct_name = item.ident.to_string();
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
        let Some(ty) = types::wrap(&field.ty, &marker, &[]) else {
            continue;
        };
        field.ty = ty;
        let name = format!("{struct_name}.{field_name}");
        let declaration = m.opts.declaration(&marker, quote!(#name));
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
    out
}

fn fields(item: &ItemStruct) -> impl Iterator<Item = &syn::Field> {
    item.fields.iter()
}

/// The options of one `#[guard]` / `#[guard(...)]` attribute.
fn field_options(attr: &Attribute) -> Result<Options, syn::Error> {
    let written = format!("#[{}]", crate::as_written(&attr.meta.to_token_stream()));
    match &attr.meta {
        Meta::Path(_) => Ok(Options::default()),
        Meta::List(l) => options::parse(l.tokens.clone(), Place::Field, &written),
        Meta::NameValue(nv) => Err(syn::Error::new_spanned(
            nv,
            format!(
                "cannot read `{written}`: accepted `#[guard]` or `#[guard(option = value, ...)]`"
            ),
        )),
    }
}

fn strip_guard_attrs(item: &mut ItemStruct) {
    for f in item.fields.iter_mut() {
        f.attrs.retain(|a| !a.path().is_ident("guard"));
    }
}
