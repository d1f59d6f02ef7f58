//! Operator accounts (admin only).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use gymgate_shared::api::{NewOperator, Operator, OperatorUpdate};

use crate::auth::pins::Priority;
use crate::error::AppError;
use crate::extract::{ApiJson, AsAdmin};
use crate::state::AppState;
use crate::store::audit::Subject;
use crate::store::operators;

pub(super) const MIN_PASSWORD_CHARS: usize = 10;

/// A password an operator may choose, or why not.
pub(super) fn check_password(password: &str) -> Result<(), AppError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > 256 {
        return Err(AppError::bad_request(
            "weak_password",
            format!(
                "비밀번호는 {MIN_PASSWORD_CHARS}자 이상이어야 합니다 / a password has at least {MIN_PASSWORD_CHARS} characters"
            ),
        ));
    }
    Ok(())
}

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
    check_password(&new.password)?;
    let hash = state.pins.hash_with(new.password, Priority::Login).await?;
    let operator = Operator {
        id: uuid::Uuid::now_v7().to_string(),
        username,
        role: new.role,
        created_at: Utc::now(),
        disabled: false,
        totp: false,
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
    if update.role.is_none() && update.disabled.is_none() {
        return Err(AppError::bad_request(
            "invalid_body",
            "바꿀 항목(role, disabled)이 없습니다 / nothing to change: send role or disabled",
        ));
    }
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
            if view(&before) == view(&after) {
                // Nothing changed: nothing to audit.
                return Ok(after);
            }
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

/// An admin gives an account a new password (forgotten, or the account was misused): shown
/// once, every session of the account ends, its locks are lifted. `reset_totp` also takes its
/// second factor away (a lost phone), to be set up again at the next login.
pub(super) async fn reset_password(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    Path(username): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<gymgate_shared::api::PasswordReset>, AppError> {
    #[derive(serde::Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Options {
        #[serde(default)]
        reset_totp: bool,
    }
    let options: Options = if body.iter().all(u8::is_ascii_whitespace) {
        Options::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|_| AppError::bad_request("invalid_body", "expected {\"reset_totp\": bool}"))?
    };
    let password = crate::auth::tokens::new_token();
    let hash = state
        .pins
        .hash_with(password.clone(), Priority::Login)
        .await?;
    let name = username.clone();
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let row = operators::by_username(ctx.tx, &name)?
                .ok_or_else(|| AppError::not_found("unknown_operator", "no such operator"))?;
            operators::set_password(ctx.tx, &row.operator.id, &hash, None)?;
            if options.reset_totp {
                operators::clear_totp(ctx.tx, &row.operator.id)?;
            }
            let subject = Subject {
                target: Some(format!("operator:{name}")),
                ..Subject::default()
            };
            // Never the password itself.
            let after = serde_json::json!({
                "password_reset": true,
                "sessions_ended": true,
                "totp_reset": options.reset_totp,
            });
            ctx.audit(
                &actor.name,
                "operator.reset_password",
                &subject,
                None,
                Some(&after),
            )?;
            Ok(())
        })
        .await?;
    Ok(Json(gymgate_shared::api::PasswordReset {
        username,
        password,
    }))
}
