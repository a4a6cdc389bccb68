//! Statements whose shape is only known at run time (a list's filters), and
//! where they run: on sqlx's pool, or on the calling thread straight from
//! SQLite's file (`inline_reads`).

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Arguments, FromRow};

use super::inline_reads::InlineReads;
use super::{Dialect, Pool};

/// A value bound to a placeholder, in a form both sqlx and rusqlite bind.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Integer(i64),
    Real(f64),
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Self::Text(value.to_string())
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Self::Integer(value)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Self {
        Self::Real(value)
    }
}

/// A statement written with `$N` placeholders as it is built. sqlx's
/// `QueryBuilder<Any>` writes `?`, which PostgreSQL does not read; SQLite
/// reads `$N` as a named parameter, numbered in the order of appearance,
/// which is the order they are pushed in.
#[derive(Debug, Default)]
pub struct Statement {
    sql: String,
    values: Vec<Value>,
    /// Planned with its values each time, not kept prepared (see [`Self::plan_with_values`]).
    plan_with_values: bool,
}

impl Statement {
    pub fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            values: Vec::new(),
            plan_with_values: false,
        }
    }

    /// Not kept prepared: PostgreSQL then plans the statement with its
    /// values every time. A page of a name's matches reads as many rows as
    /// its chunks hold matches (a handful, or every one of a group of 512),
    /// and a generic plan, made once for any number, cannot tell a few index
    /// lookups from a walk. (When pg_trgm's
    /// index answered names, a generic plan ignored it: 70 ms instead of 2
    /// for 10 matches at 100 k assets.) Other statements keep their generic
    /// plans: planning each time cost a fifth of `GET /assets/{id}`'s
    /// throughput on PostgreSQL.
    pub fn plan_with_values(&mut self) -> &mut Self {
        self.plan_with_values = true;
        self
    }

    /// Appends ` LIMIT .. OFFSET ..`. On PostgreSQL the bounds are written
    /// into the statement (they are numbers of ours): as values, `LIMIT $2
    /// OFFSET $3` looks costly to a generic plan, so PostgreSQL never settled
    /// on one and planned the page afresh every time (0.2-0.3 ms, more than
    /// running it). Written in, each page a client asks for again (a
    /// dashboard's page 1) is planned once per connection; a page asked once
    /// (paging deep) costs a parse where it cost a plan, and sqlx's bounded
    /// statement cache closes it in time. SQLite plans nothing per value,
    /// and its statement caches are small: there they stay values.
    pub fn push_page_bounds(&mut self, dialect: Dialect, offset: u64, limit: u32) -> &mut Self {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        match dialect {
            Dialect::Postgres => self.push(&format!(" LIMIT {limit} OFFSET {offset}")),
            Dialect::Sqlite => self
                .push(" LIMIT ")
                .push_bind(i64::from(limit))
                .push(" OFFSET ")
                .push_bind(offset),
        }
    }

    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn push_bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        self.sql.push('$');
        self.sql.push_str(&self.values.len().to_string());
        self
    }

    /// Appends `(v1, v2, ...)` with a placeholder for each value.
    pub fn push_list<V, I>(&mut self, values: I) -> &mut Self
    where
        V: Into<Value>,
        I: IntoIterator<Item = V>,
    {
        self.sql.push('(');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.push_bind(value);
        }
        self.sql.push(')');
        self
    }

    /// The query on sqlx, with the values bound.
    pub fn query_as<O>(&self) -> sqlx::query::QueryAs<'_, sqlx::Any, O, AnyArguments<'_>>
    where
        O: for<'r> FromRow<'r, AnyRow>,
    {
        sqlx::query_as_with(&self.sql, self.arguments()).persistent(!self.plan_with_values)
    }

    /// The statement on sqlx, with the values bound, for what it does
    /// rather than for rows.
    pub fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, AnyArguments<'_>> {
        sqlx::query_with(&self.sql, self.arguments()).persistent(!self.plan_with_values)
    }

    fn arguments(&self) -> AnyArguments<'_> {
        let mut args = AnyArguments::default();
        for value in &self.values {
            match value {
                Value::Text(text) => args.add(text.clone()),
                Value::Integer(integer) => args.add(*integer),
                Value::Real(real) => args.add(*real),
            }
            .expect("the Any driver encodes text, integers and reals");
        }
        args
    }

    /// Every row of the statement, read by rusqlite on this thread.
    pub fn rows_inline<O: SqliteRow>(&self, reads: &InlineReads) -> rusqlite::Result<Vec<O>> {
        reads.with(|connection| {
            let mut statement = connection.prepare_cached(&self.sql)?;
            for (i, value) in self.values.iter().enumerate() {
                match value {
                    Value::Text(text) => statement.raw_bind_parameter(i + 1, text),
                    Value::Integer(integer) => statement.raw_bind_parameter(i + 1, integer),
                    Value::Real(real) => statement.raw_bind_parameter(i + 1, real),
                }?;
            }
            let mut rows = statement.raw_query();
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(O::from_sqlite(row)?);
            }
            Ok(out)
        })
    }
}

/// A row type that rusqlite can read too, column by column in the
/// statement's order, as sqlx's `FromRow` does.
pub trait SqliteRow: Sized {
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

/// Implements [`SqliteRow`] for a tuple of these column types.
macro_rules! sqlite_row_tuple {
    ($($column:ident $index:tt),+) => {
        impl<$($column: rusqlite::types::FromSql),+> SqliteRow for ($($column,)+) {
            fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                Ok(($(row.get($index)?,)+))
            }
        }
    };
}
sqlite_row_tuple!(A 0);
sqlite_row_tuple!(A 0, B 1);
sqlite_row_tuple!(A 0, B 1, C 2);
sqlite_row_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);

/// Where reads run. Inline reads skip sqlx's thread hops (one per statement
/// and per row), but hold up the async worker that runs them: only reads
/// whose cost an index bounds may run inline, never a scan.
#[derive(Clone, Copy)]
pub enum Reader<'a> {
    Pool(&'a Pool),
    Inline(&'a InlineReads),
}

impl Reader<'_> {
    pub async fn fetch_all<O>(self, statement: &Statement) -> sqlx::Result<Vec<O>>
    where
        O: for<'r> FromRow<'r, AnyRow> + SqliteRow + Send + Unpin,
    {
        match self {
            Self::Pool(pool) => statement.query_as().fetch_all(pool).await,
            Self::Inline(reads) => statement.rows_inline(reads).map_err(inline_error),
        }
    }

    pub async fn fetch_one<O>(self, statement: &Statement) -> sqlx::Result<O>
    where
        O: for<'r> FromRow<'r, AnyRow> + SqliteRow + Send + Unpin,
    {
        match self {
            Self::Pool(pool) => statement.query_as().fetch_one(pool).await,
            Self::Inline(reads) => statement
                .rows_inline(reads)
                .map_err(inline_error)?
                .into_iter()
                .next()
                .ok_or(sqlx::Error::RowNotFound),
        }
    }
}

/// A failed inline read, as the sqlx error the callers already handle.
pub(super) fn inline_error(e: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::Protocol(format!("SQLite (inline read): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut statement = Statement::new("SELECT 1 WHERE a = ");
        statement
            .push_bind("x")
            .push(" AND b IN ")
            .push_list([1i64, 2]);
        assert_eq!(statement.sql, "SELECT 1 WHERE a = $1 AND b IN ($2, $3)");
        assert_eq!(
            statement.values,
            [Value::from("x"), Value::Integer(1), Value::Integer(2)]
        );
    }
}
