//! `#[guarded]` on a fn: accesses made while it runs carry its name.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{ItemFn, ReturnType};

use crate::options::Place;

pub(crate) fn expand(args: TokenStream, item: ItemFn) -> TokenStream {
    // parse + validate
    let mut errors = Vec::new();
    let mut soft = Vec::new();
    let opts = crate::item_options(args, Place::Fn, &mut soft);
    let krate = opts.krate();
    if let Some(c) = &item.sig.constness {
        errors.push(syn::Error::new_spanned(
            c,
            "`#[guarded]` cannot attribute a `const fn`: accepted `fn` and `async fn`",
        ));
    }
    if let Some(out) = crate::unexpanded(&item, errors, &soft) {
        return out;
    }
    // expand
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = item;
    let name = syn::ext::IdentExt::unraw(&sig.ident).to_string();
    let stmts = &block.stmts;
    let function = quote! {
        static __MAPGUARD_FUNCTION: #krate::__private::Function =
            #krate::__private::Function::new(::core::concat!(::core::module_path!(), "::", #name));
    };
    let body = if sig.asyncness.is_some() {
        // The attribution follows the future: each poll of the body enters the scope.
        let ret = match &sig.output {
            ReturnType::Default => Some(quote!(())),
            // `-> !` cannot be named in a `let` on stable Rust; like `impl Trait`, it
            // needs no hint (a body that never returns coerces to anything).
            ReturnType::Type(_, t) if !mentions_impl(t) && !matches!(**t, syn::Type::Never(_)) => {
                Some(t.to_token_stream())
            }
            ReturnType::Type(..) => None,
        };
        let inner = match ret {
            // A first (never taken) `return` of the declared type fixes the block's
            // return type, so later `return`s coerce as in the plain async fn.
            Some(ret) => quote! {
                async move {
                    #[allow(unreachable_code)]
                    if false {
                        let __mapguard_output: #ret = loop {};
                        return __mapguard_output;
                    }
                    #(#stmts)*
                }
            },
            None => quote!(async move { #(#stmts)* }),
        };
        quote! {
            {
                #function
                let __mapguard_body = ::core::pin::pin!(#inner);
                #krate::__private::attribute(&__MAPGUARD_FUNCTION, __mapguard_body).await
            }
        }
    } else {
        quote! {
            {
                #function
                let __mapguard_scope = #krate::__private::FunctionScope::enter(&__MAPGUARD_FUNCTION);
                #(#stmts)*
            }
        }
    };
    let (inner_attrs, outer_attrs): (Vec<_>, Vec<_>) = attrs
        .into_iter()
        .partition(|a| matches!(a.style, syn::AttrStyle::Inner(_)));
    let out = quote! {
        #(#outer_attrs)*
        #vis #sig
        {
            #(#inner_attrs)*
            #body
        }
    };
    crate::with_errors(out, soft)
}

/// True if a return type contains `impl Trait`, which a `let` cannot name.
fn mentions_impl(t: &syn::Type) -> bool {
    t.to_token_stream()
        .into_iter()
        .any(|tt| matches!(&tt, proc_macro2::TokenTree::Ident(i) if i == "impl"))
        || matches!(t, syn::Type::ImplTrait(_))
}
