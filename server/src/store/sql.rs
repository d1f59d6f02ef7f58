//! The one SQL interface the store's modules are written against, with one implementation per
//! database: SQLite (the embedded default, below) and PostgreSQL (`postgres.rs`).
//!
//! Statements are written once with `?1`-style placeholders, which both sides understand (the
//! PostgreSQL side renumbers them `$1`). Values are dynamically typed, as in SQLite: an integer
//! column reads as `i64` whatever its declared width. Where the dialects differ (an index hint,
//! boolean arithmetic), a module asks [`Conn::dialect`].

use gymgate_shared::{CenterId, CheckinId, DeskId, LocalId, MemberId, NoticeId};

use super::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A parameter's value, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// Something that can be bound to a placeholder.
pub trait Param {
    fn value(&self) -> Value<'_>;
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}

impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value<'_> {
        match self {
            Some(v) => v.value(),
            None => Value::Null,
        }
    }
}

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> Value<'_> {
                // Counts, sequence numbers and sizes are far below i64::MAX.
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_param!(i64, i32, u32, u64, usize, u8, u16);

impl Param for bool {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}

impl Param for str {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for String {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for [u8] {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl Param for Vec<u8> {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

macro_rules! id_param {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> Value<'_> {
                Value::Text(self.as_str())
            }
        }
    )*};
}
id_param!(CenterId, CheckinId, DeskId, LocalId, MemberId, NoticeId);

/// One column of a result row.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A result row, read column by column (from 0).
pub trait Row {
    fn cell(&self, index: usize) -> Result<Cell<'_>, StoreError>;
}

/// The columns of a row from `first` on, as a row of their own: a statement that reads two
/// things (a member and a center) hands each its own columns.
pub struct Columns<'a> {
    pub row: &'a dyn Row,
    pub first: usize,
}

impl Row for Columns<'_> {
    fn cell(&self, index: usize) -> Result<Cell<'_>, StoreError> {
        self.row.cell(self.first + index)
    }
}

impl dyn Row + '_ {
    pub fn get<T: FromCell>(&self, index: usize) -> Result<T, StoreError> {
        T::from_cell(self.cell(index)?)
            .map_err(|what| StoreError::Corrupt(format!("column {index}: {what}")))
    }
}

/// A Rust value read from a [`Cell`]; the error says what was found instead.
pub trait FromCell: Sized {
    fn from_cell(cell: Cell<'_>) -> Result<Self, String>;
}

impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(cell: Cell<'_>) -> Result<Self, String> {
        match cell {
            Cell::Null => Ok(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

impl FromCell for i64 {
    fn from_cell(cell: Cell<'_>) -> Result<Self, String> {
        match cell {
            Cell::Int(v) => Ok(v),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}

macro_rules! int_from_cell {
    ($($t:ty),*) => {$(
        impl FromCell for $t {
            fn from_cell(cell: Cell<'_>) -> Result<Self, String> {
                let v = i64::from_cell(cell)?;
                <$t>::try_from(v).map_err(|_| format!("{v} is out of range"))
            }
        }
    )*};
}
int_from_cell!(i32, u16, u32, u64, usize);

impl FromCell for bool {
    fn from_cell(cell: Cell<'_>) -> Result<Self, String> {
        Ok(i64::from_cell(cell)? != 0)
    }
}

impl FromCell for String {
    fn from_cell(cell: Cell<'_>) -> Result<Self, String> {
        match cell {
            Cell::Text(text) => Ok(text.to_owned()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}

impl FromCell for Vec<u8> {
    fn from_cell(cell: Cell<'_>) -> Result<Self, String> {
        match cell {
            Cell::Blob(bytes) => Ok(bytes.to_vec()),
            other => Err(format!("expected bytes, found {other:?}")),
        }
    }
}

impl FromCell for f64 {
    fn from_cell(cell: Cell<'_>) -> Result<Self, String> {
        match cell {
            Cell::Real(v) => Ok(v),
            Cell::Int(v) => Ok(v as f64),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }
}

macro_rules! id_from_cell {
    ($($t:ty),*) => {$(
        impl FromCell for $t {
            fn from_cell(cell: Cell<'_>) -> Result<Self, String> {
                String::from_cell(cell).map(<$t>::new)
            }
        }
    )*};
}
id_from_cell!(CenterId, CheckinId, DeskId, LocalId, MemberId, NoticeId);

/// A connection (or the writer's open transaction) of either database.
pub trait Conn {
    fn dialect(&self) -> Dialect;

    /// Runs a statement that returns no rows; how many rows it changed.
    fn execute(&mut self, sql: &str, params: &[&dyn Param]) -> Result<usize, StoreError>;

    /// Runs a query and hands each row to `each`, in order.
    fn query(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

impl dyn Conn + '_ {
    /// The first row's mapping, if there is a row.
    pub fn one<T>(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
        mut map: impl FnMut(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut found = None;
        self.query(sql, params, &mut |row| {
            if found.is_none() {
                found = Some(map(row)?);
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// Every row's mapping, in order.
    pub fn all<T>(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
        mut map: impl FnMut(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut rows = Vec::new();
        self.query(sql, params, &mut |row| {
            rows.push(map(row)?);
            Ok(())
        })?;
        Ok(rows)
    }

    /// The first column of the first row, which must exist (an aggregate, `RETURNING`).
    pub fn value<T: FromCell>(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<T, StoreError> {
        self.one(sql, params, |row| row.get(0))?
            .ok_or_else(|| StoreError::Corrupt(format!("no row from {sql}")))
    }

    /// The first column of the first row, if there is one.
    pub fn optional<T: FromCell>(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<Option<T>, StoreError> {
        self.one(sql, params, |row| row.get(0))
    }
}

// --- SQLite ----------------------------------------------------------------------------------

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(v),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
            Value::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

fn bind(
    statement: &mut rusqlite::CachedStatement<'_>,
    params: &[&dyn Param],
) -> rusqlite::Result<()> {
    for (i, param) in params.iter().enumerate() {
        statement.raw_bind_parameter(i + 1, param.value())?;
    }
    Ok(())
}

struct SqliteRow<'a, 'b>(&'a rusqlite::Row<'b>);

impl Row for SqliteRow<'_, '_> {
    fn cell(&self, index: usize) -> Result<Cell<'_>, StoreError> {
        use rusqlite::types::ValueRef;
        Ok(match self.0.get_ref(index)? {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(v) => Cell::Int(v),
            ValueRef::Real(v) => Cell::Real(v),
            ValueRef::Text(bytes) => Cell::Text(
                std::str::from_utf8(bytes)
                    .map_err(|_| StoreError::Corrupt(format!("column {index} is not UTF-8")))?,
            ),
            ValueRef::Blob(bytes) => Cell::Blob(bytes),
        })
    }
}

impl Conn for rusqlite::Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[&dyn Param]) -> Result<usize, StoreError> {
        let mut statement = self.prepare_cached(sql)?;
        bind(&mut statement, params)?;
        Ok(statement.raw_execute()?)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut statement = self.prepare_cached(sql)?;
        bind(&mut statement, params)?;
        let mut rows = statement.raw_query();
        while let Some(row) = rows.next()? {
            each(&SqliteRow(row))?;
        }
        Ok(())
    }
}
