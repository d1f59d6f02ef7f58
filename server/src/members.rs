//! Members as operators create and change them: checking a record, hashing its PIN, and
//! storing it (and telling the desks that know the member). Used by the admin API, the import
//! worker and the demo.

use gymgate_shared::MemberId;
use gymgate_shared::api::NewMember;
use gymgate_shared::protocol::EventPayload;

use crate::auth::pins::{PinWorkers, Priority};
use crate::error::AppError;
use crate::store::members::{self as stored, MemberFields};
use crate::store::{WriteCtx, checkins};

/// A member record checked and ready to store (PIN already hashed).
pub(crate) struct ValidMember {
    pub(crate) new: NewMember,
    pub(crate) pin_hash: String,
    /// An existing member's PIN is replaced only when asked (an import line's `reset_pin`):
    /// a monthly re-import must not undo the resets support made since.
    pub(crate) replace_pin: bool,
}

/// What storing a member did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stored {
    Created,
    /// Updated; `pin_changed`: their sessions ended and their passes were revoked.
    Updated {
        id: MemberId,
        pin_changed: bool,
    },
}

pub(crate) fn validate_member(new: NewMember) -> Result<NewMember, String> {
    let member_no = new.member_no.trim().to_owned();
    if member_no.is_empty()
        || member_no.len() > 20
        || !member_no
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err("회원번호는 영문·숫자·'-' 1~20자입니다 / member_no must be 1 to 20 letters, digits or '-'".into());
    }
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 50 {
        return Err("이름은 1~50자입니다 / name must be 1 to 50 characters".into());
    }
    let phone = new.phone.trim().to_owned();
    if phone.chars().filter(char::is_ascii_digit).count() < 4
        || !phone
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == ' ' || c == '+')
    {
        return Err(
            "전화번호에 숫자가 4개 이상 있어야 합니다 / phone must hold at least 4 digits".into(),
        );
    }
    if !(4..=8).contains(&new.pin.len()) || !new.pin.chars().all(|c| c.is_ascii_digit()) {
        return Err("PIN은 숫자 4~8자리입니다 / pin must be 4 to 8 digits".into());
    }
    let plan = new.plan.trim().to_owned();
    if plan.is_empty() || plan.chars().count() > 50 {
        return Err("이용권 이름은 1~50자입니다 / plan must be 1 to 50 characters".into());
    }
    if new.valid_from > new.valid_until {
        return Err("시작일이 종료일보다 늦습니다 / valid_from is after valid_until".into());
    }
    Ok(NewMember {
        member_no,
        name,
        phone,
        plan,
        ..new
    })
}

/// Hashes the members' PINs, `parallel` at a time, in order. An operator adding one member
/// waits like a login; an import runs as background work behind logins.
pub(crate) async fn hash_members(
    pins: &PinWorkers,
    members: Vec<NewMember>,
    priority: Priority,
    parallel: usize,
) -> Result<Vec<ValidMember>, AppError> {
    use futures_util::StreamExt;
    futures_util::stream::iter(members)
        .map(|new| async move {
            let pin_hash = pins.hash_with(new.pin.clone(), priority).await?;
            Ok(ValidMember {
                new,
                pin_hash,
                replace_pin: false,
            })
        })
        .buffered(parallel.max(1))
        .collect::<Vec<Result<ValidMember, AppError>>>()
        .await
        .into_iter()
        .collect()
}

fn plan_id(ctx: &mut WriteCtx<'_>, name: &str, visits: Option<u32>) -> Result<i64, AppError> {
    match stored::plan(ctx.tx, name)? {
        Some((id, stored)) if stored == visits => Ok(id),
        Some(_) => Err(AppError::conflict(
            "plan_mismatch",
            format!("plan {name:?} exists with a different number of visits per month"),
        )),
        None => Ok(stored::insert_plan(ctx.tx, name, visits)?),
    }
}

/// Inserts or (with `update`) updates a member. Updated members are announced to the desks
/// whose roster holds them; an existing member's PIN changes only with `replace_pin`, and then
/// like every PIN change (sessions ended, passes revoked). The caller ends the sessions this
/// node remembers once the change is committed ([`crate::state::AppState::end_member_sessions`]).
pub(crate) fn store_member(
    ctx: &mut WriteCtx<'_>,
    m: &ValidMember,
    update: bool,
) -> Result<Stored, AppError> {
    let new = &m.new;
    let plan = plan_id(ctx, &new.plan, new.visits_per_month)?;
    let fields = MemberFields {
        member_no: &new.member_no,
        name: &new.name,
        phone: &new.phone,
        pin_hash: &m.pin_hash,
        plan_id: plan,
        valid_from: new.valid_from,
        valid_until: new.valid_until,
        birthday: new.birthday,
    };
    match stored::id_of(ctx.tx, &new.member_no)? {
        Some(_) if !update => Err(AppError::conflict(
            "member_exists",
            format!("member {} already exists", new.member_no),
        )),
        Some(id) => {
            stored::update(ctx.tx, &id, &fields, false)?;
            if m.replace_pin {
                change_pin(ctx, &id, &m.pin_hash)?;
            } else {
                announce_member(ctx, &id)?;
            }
            Ok(Stored::Updated {
                id,
                pin_changed: m.replace_pin,
            })
        }
        None => {
            stored::insert(ctx.tx, &MemberId::generate(), &fields, ctx.now)?;
            Ok(Stored::Created)
        }
    }
}

/// Every PIN change goes through here: the new hash, the member's tokens deleted (their
/// sessions end) and every offline pass issued before now revoked, all in the change's
/// transaction. The caller then ends what this node remembers of the sessions.
pub(crate) fn change_pin(
    ctx: &mut WriteCtx<'_>,
    id: &MemberId,
    pin_hash: &str,
) -> Result<(), AppError> {
    stored::set_pin(ctx.tx, id, pin_hash)?;
    revoke_passes(ctx, id)?;
    announce_member(ctx, id)
}

/// Every offline pass of the member issued until now stops working: the server refuses them
/// from now on, and every desk hears it (a `revocation` event to every center), so a desk
/// refuses them offline too.
pub(crate) fn revoke_passes(ctx: &mut WriteCtx<'_>, member: &MemberId) -> Result<(), AppError> {
    stored::revoke_passes(ctx.tx, member, ctx.now)?;
    let payload = EventPayload::Revocation(gymgate_shared::api::Revocation {
        member_id: member.clone(),
        revoked_at: ctx.now,
    });
    for center in crate::store::centers::ids(ctx.tx)? {
        ctx.append_event(&center, &payload)?;
    }
    Ok(())
}

/// The member with this number, or the API's `404 unknown_member`.
pub(crate) fn by_no(
    conn: &mut dyn crate::store::Conn,
    member_no: &str,
) -> Result<stored::MemberRow, AppError> {
    stored::load_by_no(conn, member_no)?
        .ok_or_else(|| AppError::not_found("unknown_member", "no such member"))
}

/// Gives a member a photo (an already re-encoded thumbnail) or takes it away (`None`), and
/// tells the desks that know them; returns the photo's URL. The URL carries the photo's
/// version, so desks fetch a changed photo again.
pub(crate) fn set_photo(
    ctx: &mut WriteCtx<'_>,
    id: &MemberId,
    jpeg: Option<&[u8]>,
) -> Result<Option<String>, AppError> {
    let url = match jpeg {
        Some(jpeg) => {
            crate::store::photos::put(ctx.tx, id, jpeg, ctx.now)?;
            Some(format!(
                "/api/v1/desk/photos/{id}?v={}",
                crate::photos::version(jpeg)
            ))
        }
        None => {
            crate::store::photos::delete(ctx.tx, id)?;
            None
        }
    };
    stored::set_photo_url(ctx.tx, id, url.as_deref())?;
    announce_member(ctx, id)?;
    Ok(url)
}

/// Sends a `member` event to every center whose desks have this member in their roster.
pub(crate) fn announce_member(ctx: &mut WriteCtx<'_>, id: &MemberId) -> Result<(), AppError> {
    let Some(member) = stored::load(ctx.tx, id)? else {
        return Ok(());
    };
    let history = checkins::visit_history(ctx.tx, id, None, ctx.now)?;
    let payload = EventPayload::Member(member.roster(&history));
    for center in checkins::centers_visited_by(ctx.tx, id, ctx.now)? {
        ctx.append_event(&center, &payload)?;
    }
    Ok(())
}
