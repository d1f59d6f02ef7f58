//! Operator accounts (admin only).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use gymgate_shared::api::{NewOperator, Operator, OperatorUpdate};

use crate::error::AppError;
use crate::extract::{ApiJson, AsAdmin};
use crate::pins::Priority;
use crate::state::AppState;
use crate::store::audit::Subject;
use crate::store::operators;

const MIN_PASSWORD_CHARS: usize = 10;

pub(super) async fn list_operators(
    State(state): State<AppState>,
    _: AsAdmin,
) -> Result<Json<Vec<Operator>>, AppError> {
    Ok(Json(state.store.read(operators::list).await?))
}

pub(super) fn valid_username(name: &str) -> bool {
    (2..=40).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Creates an operator account (the CLI creates the first admin with the admin token).
pub(super) async fn create_operator(
    state: &AppState,
    actor_name: &str,
    new: NewOperator,
) -> Result<Operator, AppError> {
    let username = new.username.trim().to_owned();
    if !valid_username(&username) {
        return Err(AppError::bad_request(
            "invalid_username",
            "아이디는 2~40자(글자·숫자·._-@)입니다 / a username is 2 to 40 letters, digits or ._-@",
        ));
    }
    if new.password.chars().count() < MIN_PASSWORD_CHARS || new.password.len() > 256 {
        return Err(AppError::bad_request(
            "weak_password",
            format!(
                "비밀번호는 {MIN_PASSWORD_CHARS}자 이상이어야 합니다 / a password has at least {MIN_PASSWORD_CHARS} characters"
            ),
        ));
    }
    let hash = state.pins.hash_with(new.password, Priority::Login).await?;
    let operator = Operator {
        id: uuid::Uuid::now_v7().to_string(),
        username,
        role: new.role,
        created_at: Utc::now(),
        disabled: false,
    };
    let stored = operator.clone();
    let by = actor_name.to_owned();
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            if operators::by_username(ctx.tx, &stored.username)?.is_some() {
                return Err(AppError::conflict(
                    "username_taken",
                    "이미 있는 아이디입니다 / that username is taken",
                ));
            }
            operators::insert(ctx.tx, &stored, &hash)?;
            let subject = Subject {
                target: Some(format!("operator:{}", stored.username)),
                ..Subject::default()
            };
            let after = serde_json::json!({ "username": stored.username, "role": stored.role });
            ctx.audit(&by, "operator.add", &subject, None, Some(&after))?;
            Ok(())
        })
        .await?;
    Ok(operator)
}

pub(super) async fn add_operator(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    ApiJson(new): ApiJson<NewOperator>,
) -> Result<(StatusCode, Json<Operator>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(create_operator(&state, &actor.name, new).await?),
    ))
}

pub(super) async fn update_operator(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    Path(username): Path<String>,
    ApiJson(update): ApiJson<OperatorUpdate>,
) -> Result<Json<Operator>, AppError> {
    let operator = state
        .store
        .writer
        .write(move |ctx| -> Result<Operator, AppError> {
            let before = operators::by_username(ctx.tx, &username)?
                .ok_or_else(|| AppError::not_found("unknown_operator", "no such operator"))?
                .operator;
            if actor.name == format!("operator:{username}") && update.disabled == Some(true) {
                return Err(AppError::conflict(
                    "cannot_disable_self",
                    "자기 계정은 끌 수 없습니다 / you cannot disable your own account",
                ));
            }
            operators::update(ctx.tx, &before.id, update.role, update.disabled, ctx.now)?;
            let after = operators::by_username(ctx.tx, &username)?
                .ok_or_else(|| AppError::Internal("operator vanished".into()))?
                .operator;
            let subject = Subject {
                target: Some(format!("operator:{username}")),
                ..Subject::default()
            };
            let view = |o: &Operator| serde_json::json!({ "role": o.role, "disabled": o.disabled });
            ctx.audit(
                &actor.name,
                "operator.update",
                &subject,
                Some(&view(&before)),
                Some(&view(&after)),
            )?;
            Ok(after)
        })
        .await?;
    Ok(Json(operator))
}
