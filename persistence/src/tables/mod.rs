//! The saved world's tables, as Rust sees them: one struct per table holding rows as columns
//! (`ShipRows { id: Vec<i64>, x: Vec<f32>, .. }`), declared once with [`table!`]. The
//! declaration gives everything the writer and the restore need, for both backends: the column
//! list, Postgres `UNNEST` expressions (the whole column bound as one array: one statement per
//! table, whatever the row count), SQLite binds row by row, and reading rows back.
//!
//! What the columns mean, with units, is in the migrations (`COMMENT ON`, Postgres). Row
//! mapping (records ↔ rows) is in [`map`]; the list of tables in [`schema`].

mod decode;
pub mod map;
pub mod schema;

use std::borrow::Cow;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Postgres, Row, Sqlite};

/// A Postgres statement being bound.
pub type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;
/// A SQLite statement being bound.
pub type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments>;

/// A column's Rust type: how Postgres unnests an array of it, how each backend binds it and
/// how it is read back.
pub trait Column: Sized + Clone + Serialize + DeserializeOwned {
    /// Postgres: the expression that unnests parameter `$n` (the whole column as an array).
    fn unnest(n: usize) -> String;
    /// Postgres: how the column is selected (JSONB is read as text).
    fn select(name: &str) -> String {
        name.to_owned()
    }
    /// Postgres: binds the whole column as one array.
    fn bind_pg<'q>(q: PgQuery<'q>, values: &[Self]) -> PgQuery<'q>;
    /// SQLite: binds one value.
    fn bind_sqlite<'q>(q: SqliteQuery<'q>, value: &Self) -> SqliteQuery<'q>;
    /// Postgres: reads column `i` of a row.
    fn read_pg(row: &PgRow, i: usize) -> Result<Self, sqlx::Error>;
    /// SQLite: reads column `i` of a row.
    fn read_sqlite(row: &SqliteRow, i: usize) -> Result<Self, sqlx::Error>;
}

macro_rules! scalar {
    ($t:ty, $pg:literal) => {
        impl Column for $t {
            fn unnest(n: usize) -> String {
                format!("UNNEST(${n}::{}[])", $pg)
            }
            fn bind_pg<'q>(q: PgQuery<'q>, values: &[Self]) -> PgQuery<'q> {
                q.bind(values)
            }
            fn bind_sqlite<'q>(q: SqliteQuery<'q>, value: &Self) -> SqliteQuery<'q> {
                q.bind(*value)
            }
            fn read_pg(row: &PgRow, i: usize) -> Result<Self, sqlx::Error> {
                row.try_get(i)
            }
            fn read_sqlite(row: &SqliteRow, i: usize) -> Result<Self, sqlx::Error> {
                row.try_get(i)
            }
        }
    };
}

scalar!(i64, "int8");
scalar!(Option<i64>, "int8");
scalar!(i32, "int4");
scalar!(Option<i32>, "int4");
scalar!(i16, "int2");
scalar!(f32, "float4");
scalar!(Option<f32>, "float4");
scalar!(Option<bool>, "bool");

/// Text: enumerations (`'cruiser'`, borrowed) and names (owned).
pub type Text = Cow<'static, str>;

impl Column for Text {
    fn unnest(n: usize) -> String {
        format!("UNNEST(${n}::text[])")
    }
    fn bind_pg<'q>(q: PgQuery<'q>, values: &[Self]) -> PgQuery<'q> {
        q.bind(values.iter().map(AsRef::as_ref).collect::<Vec<&str>>())
    }
    fn bind_sqlite<'q>(q: SqliteQuery<'q>, value: &Self) -> SqliteQuery<'q> {
        q.bind(value.to_string())
    }
    fn read_pg(row: &PgRow, i: usize) -> Result<Self, sqlx::Error> {
        row.try_get::<String, _>(i).map(Cow::Owned)
    }
    fn read_sqlite(row: &SqliteRow, i: usize) -> Result<Self, sqlx::Error> {
        row.try_get::<String, _>(i).map(Cow::Owned)
    }
}

impl Column for Option<Text> {
    fn unnest(n: usize) -> String {
        format!("UNNEST(${n}::text[])")
    }
    fn bind_pg<'q>(q: PgQuery<'q>, values: &[Self]) -> PgQuery<'q> {
        q.bind(values.iter().map(|v| v.as_deref()).collect::<Vec<Option<&str>>>())
    }
    fn bind_sqlite<'q>(q: SqliteQuery<'q>, value: &Self) -> SqliteQuery<'q> {
        q.bind(value.as_ref().map(|v| v.to_string()))
    }
    fn read_pg(row: &PgRow, i: usize) -> Result<Self, sqlx::Error> {
        row.try_get::<Option<String>, _>(i).map(|v| v.map(Cow::Owned))
    }
    fn read_sqlite(row: &SqliteRow, i: usize) -> Result<Self, sqlx::Error> {
        row.try_get::<Option<String>, _>(i).map(|v| v.map(Cow::Owned))
    }
}

/// A JSON document (already encoded): JSONB on Postgres, TEXT on SQLite.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Json(pub String);

impl Column for Json {
    fn unnest(n: usize) -> String {
        format!("UNNEST(${n}::text[])::jsonb")
    }
    fn select(name: &str) -> String {
        format!("{name}::text")
    }
    fn bind_pg<'q>(q: PgQuery<'q>, values: &[Self]) -> PgQuery<'q> {
        q.bind(values.iter().map(|v| v.0.as_str()).collect::<Vec<&str>>())
    }
    fn bind_sqlite<'q>(q: SqliteQuery<'q>, value: &Self) -> SqliteQuery<'q> {
        q.bind(value.0.clone())
    }
    fn read_pg(row: &PgRow, i: usize) -> Result<Self, sqlx::Error> {
        row.try_get(i).map(Json)
    }
    fn read_sqlite(row: &SqliteRow, i: usize) -> Result<Self, sqlx::Error> {
        row.try_get(i).map(Json)
    }
}

/// A list element: a Postgres array type, written as an array literal (Postgres cannot bind
/// an array of arrays of different lengths) and as a JSON array on SQLite.
pub trait Elem: Copy + Serialize + DeserializeOwned + std::fmt::Display + sqlx::Type<Postgres> {
    /// The Postgres array type.
    const PG_ARRAY: &'static str;
}

impl Elem for i32 {
    const PG_ARRAY: &'static str = "int4[]";
}
impl Elem for i64 {
    const PG_ARRAY: &'static str = "int8[]";
}
impl Elem for f32 {
    // `Display` of an f32 is the shortest decimal that reads back as the same f32, which is
    // what Postgres' float4 input does.
    const PG_ARRAY: &'static str = "float4[]";
}

/// A list column (Postgres array; SQLite JSON text).
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct List<T>(pub Vec<T>);

fn pg_literal<T: Elem>(list: &List<T>) -> String {
    let items: Vec<String> = list.0.iter().map(T::to_string).collect();
    format!("{{{}}}", items.join(","))
}

fn decode_json<T: DeserializeOwned>(text: &str, i: usize) -> Result<T, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::ColumnDecode { index: i.to_string(), source: Box::new(e) })
}

impl<T: Elem> Column for Option<List<T>>
where
    Vec<T>: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    fn unnest(n: usize) -> String {
        format!("UNNEST(${n}::text[])::{}", T::PG_ARRAY)
    }
    fn bind_pg<'q>(q: PgQuery<'q>, values: &[Self]) -> PgQuery<'q> {
        q.bind(values.iter().map(|v| v.as_ref().map(pg_literal)).collect::<Vec<Option<String>>>())
    }
    fn bind_sqlite<'q>(q: SqliteQuery<'q>, value: &Self) -> SqliteQuery<'q> {
        q.bind(value.as_ref().map(|v| serde_json::to_string(&v.0).unwrap_or_default()))
    }
    fn read_pg(row: &PgRow, i: usize) -> Result<Self, sqlx::Error> {
        row.try_get::<Option<Vec<T>>, _>(i).map(|v| v.map(List))
    }
    fn read_sqlite(row: &SqliteRow, i: usize) -> Result<Self, sqlx::Error> {
        row.try_get::<Option<String>, _>(i)?.map(|t| decode_json(&t, i).map(List)).transpose()
    }
}

impl<T: Elem> Column for List<T>
where
    Vec<T>: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    fn unnest(n: usize) -> String {
        format!("UNNEST(${n}::text[])::{}", T::PG_ARRAY)
    }
    fn bind_pg<'q>(q: PgQuery<'q>, values: &[Self]) -> PgQuery<'q> {
        q.bind(values.iter().map(pg_literal).collect::<Vec<String>>())
    }
    fn bind_sqlite<'q>(q: SqliteQuery<'q>, value: &Self) -> SqliteQuery<'q> {
        q.bind(serde_json::to_string(&value.0).unwrap_or_default())
    }
    fn read_pg(row: &PgRow, i: usize) -> Result<Self, sqlx::Error> {
        row.try_get::<Vec<T>, _>(i).map(List)
    }
    fn read_sqlite(row: &SqliteRow, i: usize) -> Result<Self, sqlx::Error> {
        decode_json(&row.try_get::<String, _>(i)?, i).map(List)
    }
}

/// A table's rows as columns; implemented by [`table!`].
pub trait Table: Default {
    /// The table's name.
    const NAME: &'static str;
    /// Its columns, in declaration order.
    const COLUMNS: &'static [&'static str];
    /// Rows held.
    fn len(&self) -> usize;
    /// Whether no row is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Postgres: the `UNNEST` expression of each column (parameters `$first..`).
    fn unnest(first: usize) -> Vec<String>;
    /// Postgres: the select expression of each column.
    fn select() -> Vec<String>;
    /// Postgres: binds every column as one array each.
    fn bind_pg<'q>(&self, q: PgQuery<'q>) -> PgQuery<'q>;
    /// SQLite: binds row `i`.
    fn bind_sqlite<'q>(&self, q: SqliteQuery<'q>, i: usize) -> SqliteQuery<'q>;
    /// Postgres: appends a row read with [`Table::select`].
    fn push_pg(&mut self, row: &PgRow) -> Result<(), sqlx::Error>;
    /// SQLite: appends a row read with the plain column list.
    fn push_sqlite(&mut self, row: &SqliteRow) -> Result<(), sqlx::Error>;
}

/// Declares a table: a struct of one `Vec` per column, and its [`Table`] implementation.
macro_rules! table {
    ($(#[$meta:meta])* $name:ident = $table:literal { $($col:ident: $ty:ty),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            $(#[doc = concat!("Column `", stringify!($col), "`.")] pub $col: Vec<$ty>,)+
        }

        impl $crate::tables::Table for $name {
            const NAME: &'static str = $table;
            const COLUMNS: &'static [&'static str] = &[$(stringify!($col)),+];
            fn len(&self) -> usize {
                [$(self.$col.len()),+][0]
            }
            fn unnest(first: usize) -> Vec<String> {
                let mut n = first;
                vec![$({ n += 1; <$ty as $crate::tables::Column>::unnest(n - 1) }),+]
            }
            fn select() -> Vec<String> {
                vec![$(<$ty as $crate::tables::Column>::select(stringify!($col))),+]
            }
            fn bind_pg<'q>(&self, q: $crate::tables::PgQuery<'q>) -> $crate::tables::PgQuery<'q> {
                $(let q = <$ty as $crate::tables::Column>::bind_pg(q, &self.$col);)+
                q
            }
            fn bind_sqlite<'q>(&self, q: $crate::tables::SqliteQuery<'q>, i: usize) -> $crate::tables::SqliteQuery<'q> {
                $(let q = <$ty as $crate::tables::Column>::bind_sqlite(q, &self.$col[i]);)+
                q
            }
            fn push_pg(&mut self, row: &sqlx::postgres::PgRow) -> Result<(), sqlx::Error> {
                let mut i = 0;
                $(self.$col.push(<$ty as $crate::tables::Column>::read_pg(row, i)?); i += 1;)+
                let _ = i;
                Ok(())
            }
            fn push_sqlite(&mut self, row: &sqlx::sqlite::SqliteRow) -> Result<(), sqlx::Error> {
                let mut i = 0;
                $(self.$col.push(<$ty as $crate::tables::Column>::read_sqlite(row, i)?); i += 1;)+
                let _ = i;
                Ok(())
            }
        }
    };
}
pub(crate) use table;
