//! Request-shape limits beyond depth and complexity, and the marking of GraphQL request errors
//! (a document that does not parse or validate), which the HTTP layer answers with 400.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Pos, ServerError, ServerResult, ValidationResult, Variables};

use super::errors::RequestFlags;
use crate::error::ErrorCode;

/// Caps aliases per operation: aliases let one request repeat an expensive field many times
/// under different names, which depth and complexity limits count only once per alias.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_aliases: usize,
}

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

fn count_aliases(set: &SelectionSet, doc: &ExecutableDocument, depth: usize) -> usize {
    if depth > 64 {
        return 0;
    }
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(f) => {
                usize::from(f.node.alias.is_some())
                    + count_aliases(&f.node.selection_set.node, doc, depth + 1)
            }
            Selection::InlineFragment(i) => {
                count_aliases(&i.node.selection_set.node, doc, depth + 1)
            }
            Selection::FragmentSpread(s) => doc
                .fragments
                .get(&s.node.fragment_name.node)
                .map_or(0, |frag| {
                    count_aliases(&frag.node.selection_set.node, doc, depth + 1)
                }),
        })
        .sum()
}

fn mark_request_error(ctx: &ExtensionContext<'_>) {
    if let Some(flags) = ctx.data_opt::<RequestFlags>() {
        flags.set(|f| f.request_error = true);
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Limits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = match next.run(ctx, query, variables).await {
            Ok(doc) => doc,
            Err(e) => {
                mark_request_error(ctx);
                return Err(e);
            }
        };
        // A WebSocket connection serves subscriptions only: queries and mutations go over HTTP,
        // where each request's reads are logged when it ends.
        if ctx.data_opt::<super::Subscriber>().is_some()
            && doc.operations.iter().any(|(_, op)| {
                op.node.ty != async_graphql::parser::types::OperationType::Subscription
            })
        {
            let mut e = ServerError::new(
                "only subscriptions are served over WebSocket: send queries and mutations over HTTP",
                Some(Pos::default()),
            );
            let mut ext = async_graphql::ErrorExtensionValues::default();
            ext.set("code", ErrorCode::BadRequest.as_str());
            e.extensions = Some(ext);
            return Err(e);
        }
        let aliases: usize = doc
            .operations
            .iter()
            .map(|(_, op)| count_aliases(&op.node.selection_set.node, &doc, 0))
            .sum();
        if aliases > self.max_aliases {
            mark_request_error(ctx);
            let mut e = ServerError::new(
                format!(
                    "the operation uses {aliases} aliases; at most {} are allowed",
                    self.max_aliases
                ),
                Some(Pos::default()),
            );
            let mut ext = async_graphql::ErrorExtensionValues::default();
            ext.set("code", ErrorCode::QueryTooComplex.as_str());
            e.extensions = Some(ext);
            return Err(e);
        }
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await;
        if result.is_err() {
            mark_request_error(ctx);
        }
        result
    }
}
