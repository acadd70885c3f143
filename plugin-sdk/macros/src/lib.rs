//! Procedural macros of `op-plugin-sdk`. Use them through the SDK's
//! re-exports (`op_plugin_sdk::export_functions!`).

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, Path, Token};

/// One entry: `path::to::function` or `function as "ExportName"`.
struct Entry {
    function: Path,
    name: LitStr,
}

impl Parse for Entry {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let function: Path = input.parse()?;
        let name = if input.peek(Token![as]) {
            input.parse::<Token![as]>()?;
            let name: LitStr = input.parse()?;
            if name.value().is_empty() {
                return Err(syn::Error::new(
                    name.span(),
                    "a function name cannot be empty",
                ));
            }
            name
        } else {
            let last = function
                .segments
                .last()
                .ok_or_else(|| syn::Error::new(Span::call_site(), "expected a function path"))?;
            LitStr::new(&last.ident.to_string(), last.ident.span())
        };
        Ok(Entry { function, name })
    }
}

struct Entries(Punctuated<Entry, Token![,]>);

impl Parse for Entries {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        Ok(Entries(Punctuated::parse_terminated(input)?))
    }
}

/// Registers plugin functions by name and exports them to the host.
///
/// See the `op_plugin_sdk` crate documentation.
#[proc_macro]
pub fn export_functions(input: TokenStream) -> TokenStream {
    let entries = syn::parse_macro_input!(input as Entries).0;
    match expand(entries.into_iter().collect()) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

fn expand(entries: Vec<Entry>) -> syn::Result<proc_macro2::TokenStream> {
    if entries.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            "export_functions! needs at least one function",
        ));
    }
    let mut seen: Vec<&LitStr> = Vec::new();
    for entry in &entries {
        if let Some(first) = seen.iter().find(|name| name.value() == entry.name.value()) {
            let mut err = syn::Error::new(
                entry.name.span(),
                format!(
                    "the function name `{}` is exported twice",
                    entry.name.value()
                ),
            );
            err.combine(syn::Error::new(first.span(), "first exported here"));
            return Err(err);
        }
        seen.push(&entry.name);
    }
    let names: Vec<&LitStr> = entries.iter().map(|entry| &entry.name).collect();
    let functions: Vec<&Path> = entries.iter().map(|entry| &entry.function).collect();
    let ty = Ident::new("__OpPluginExports", Span::mixed_site());
    Ok(quote! {
        const _: () = {
            #[allow(dead_code)]
            struct #ty;

            impl ::op_plugin_sdk::__private::Guest for #ty {
                fn functions() -> ::std::vec::Vec<::std::string::String> {
                    ::std::vec![#(::std::string::String::from(#names)),*]
                }

                fn call(
                    function: ::std::string::String,
                    req: ::op_plugin_sdk::__private::WitRequest,
                ) -> ::std::result::Result<
                    ::op_plugin_sdk::__private::WitResponse,
                    ::op_plugin_sdk::__private::WitError,
                > {
                    match function.as_str() {
                        #(#names => ::op_plugin_sdk::__private::invoke(#functions, req),)*
                        other => ::op_plugin_sdk::__private::unknown_function(other, &[#(#names),*]),
                    }
                }
            }

            // Natively (unit tests) nothing is exported: the functions are
            // called directly, and the component's export names are not
            // symbols a native linker accepts.
            #[cfg(target_arch = "wasm32")]
            ::op_plugin_sdk::__private::bindings::__export_plugin!(#ty with_types_in ::op_plugin_sdk::__private::bindings);
        };
    })
}
