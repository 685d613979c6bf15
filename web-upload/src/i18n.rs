//! The page's two languages, English and Simplified Chinese, and every word the page says in
//! them: one catalogue keyed by name, each entry with both languages (an entry without its
//! translation does not compile; a unit test catches one left in English).
//!
//! A request's language is chosen once, in `routes`: the `wharf_lang` cookie the switcher in
//! the page header sets, else the browser's `Accept-Language` (q-values respected; any `zh*`
//! is Simplified Chinese, anything else English). It is then the request's task-local, so a
//! sentence built deep in `hints` or `results` and a template's `t("…")` read the same one.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The switcher's cookie.
pub(crate) const LANG_COOKIE: &str = "wharf_lang";

/// A language the page speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    ZhCn,
}

impl Lang {
    /// Its BCP 47 tag, for `<html lang>`, the cookie and the switcher's URL.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// A tag the switcher or its cookie names (exactly `en` or `zh-CN`).
    pub(crate) fn from_tag(tag: &str) -> Option<Lang> {
        match tag {
            "en" => Some(Lang::En),
            "zh-CN" => Some(Lang::ZhCn),
            _ => None,
        }
    }

    /// The language an `Accept-Language` header prefers: the range with the highest q (the
    /// first of equals), `zh*` being Chinese; English when none is.
    pub(crate) fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for range in header.split(',') {
            let mut parts = range.split(';');
            let tag = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            if tag.is_empty() {
                continue;
            }
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q.is_nan() || q <= 0.0 {
                continue;
            }
            let lang = if tag == "zh" || tag.starts_with("zh-") {
                Lang::ZhCn
            } else {
                Lang::En
            };
            if best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    /// A request's language: its `LANG_COOKIE`, else its `Accept-Language`.
    pub(crate) fn of_request(cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        cookie
            .and_then(Lang::from_tag)
            .unwrap_or_else(|| accept_language.map_or(Lang::En, Lang::from_accept_language))
    }
}

/// What a page needs of its request to speak: the language, and where the switcher returns.
#[derive(Debug, Clone, Default)]
pub(crate) struct Here {
    pub(crate) lang: Lang,
    /// The page's own path and query when it was a GET ("/upload" else), percent-encoded
    /// for the switcher's `back` parameter.
    pub(crate) back: String,
}

tokio::task_local! {
    static HERE: Here;
}

/// Run `f` as a request in `here`'s language.
pub(crate) async fn scope<F: std::future::Future>(here: Here, f: F) -> F::Output {
    HERE.scope(here, f).await
}

/// The current request's language (English outside a request).
pub(crate) fn lang() -> Lang {
    HERE.try_with(|h| h.lang).unwrap_or_default()
}

/// The switcher's link to `tag` for the current page.
pub(crate) fn switch_href(tag: &str) -> String {
    let back = HERE
        .try_with(|h| h.back.clone())
        .unwrap_or_else(|_| "%2Fupload".into());
    format!("/lang/{tag}?back={back}")
}

/// Whether `back` may be returned to: a path of this site (not `//host`, not a scheme).
pub(crate) fn local_path(back: &str) -> bool {
    back.starts_with('/')
        && !back.starts_with("//")
        && !back.contains('\\')
        && !back.chars().any(char::is_control)
}

fn index() -> &'static HashMap<&'static str, (&'static str, &'static str)> {
    static INDEX: OnceLock<HashMap<&'static str, (&'static str, &'static str)>> = OnceLock::new();
    INDEX.get_or_init(|| {
        CATALOGUE
            .iter()
            .map(|(k, en, zh)| (*k, (*en, *zh)))
            .collect()
    })
}

/// The text of `key` in `lang` (the key itself, logged, for a key the catalogue lacks: a
/// test renders every template so that cannot ship).
pub(crate) fn text(lang: Lang, key: &'static str) -> &'static str {
    match index().get(key) {
        Some((en, zh)) => match lang {
            Lang::En => en,
            Lang::ZhCn => zh,
        },
        None => {
            tracing::error!(key, "no such text in the catalogue");
            key
        }
    }
}

/// The text of `key` in the request's language.
pub(crate) fn t(key: &'static str) -> &'static str {
    text(lang(), key)
}

/// The text of `key` with its `{name}` placeholders filled.
pub(crate) fn tf(key: &'static str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
    fill(t(key), args)
}

/// [`tf`] for templates: every value a text.
pub(crate) fn tp(key: &'static str, args: &[(&str, &str)]) -> String {
    let args: Vec<(&str, &dyn std::fmt::Display)> = args
        .iter()
        .map(|(name, value)| (*name, value as &dyn std::fmt::Display))
        .collect();
    fill(t(key), &args)
}

fn fill(s: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
    let mut out = s.to_string();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), &value.to_string());
    }
    out
}

/// Entries whose Chinese is the English on purpose (names, codes, formats).
pub const SAME_IN_BOTH: &[&str] = &[];

/// Every text: key, English, Simplified Chinese. `{name}` is a value filled in Rust.
pub const CATALOGUE: &[(&str, &str, &str)] = &[
    // The header of every page.
    ("nav.upload", "Upload", "上传"),
    ("nav.history", "History", "历史记录"),
    ("nav.logout", "Log out", "退出登录"),
    ("nav.partner", "partner", "合作伙伴"),
    ("nav.language", "Language", "语言"),
    ("login.title", "Log in", "登录"),
    ("login.hint", "Use the wharf user your partner administrator gave you.", "请使用贵方合作伙伴管理员为您开设的 wharf 用户登录。"),
    ("login.username", "User name", "用户名"),
    ("login.password", "Password", "密码"),
    ("confirm.title", "Confirm", "确认"),
    ("confirm.heading", "Are you sure?", "确定要这样做吗？"),
    ("confirm.back", "No, go back", "不，返回"),
    ("fix.title", "Fix the failing rows", "修改失败的行"),
    ("fix.intro", "Batch {batch} of {interface} from {file}: change the marked cells; each row is checked as you leave it. When every row passes, send the corrected sheet: it goes as a new batch, the whole sheet with your changes, and names this one.", "批次 {batch}（接口 {interface}，文件 {file}）：请修改标出的单元格，离开一行时系统即校验该行。所有行都通过后，发送修改后的表格：它将作为一个新批次发送（包含您修改后的整张表格），并注明它修正的是本批次。"),
    ("fix.back", "Back to the result", "返回结果页"),
    ("fix.noscript", "Fixing rows here needs JavaScript. Without it, download your sheet with the errors marked or the errors as CSV, fix the sheet and upload it again:", "在此修改行需要启用 JavaScript。未启用时，请下载标出错误的表格或错误清单（CSV），修改表格后重新上传："),
    ("fix.noscript_annotated", "your sheet with the errors marked", "标出错误的表格"),
    ("fix.noscript_csv", "the errors as CSV", "错误清单（CSV）"),
    ("fix.prev", "Previous", "上一页"),
    ("fix.next", "Next", "下一页"),
    ("fix.submit", "Send the corrected sheet", "发送修改后的表格"),
    ("history.heading", "Your batches", "您的批次"),
    ("history.empty_before", "No batches yet.", "还没有批次。"),
    ("history.empty_link", "Upload a sheet", "上传一张表格"),
    ("history.empty_after", "and it will show here.", "后，它会显示在这里。"),
    ("col.time", "Time", "时间"),
    ("col.interface", "Interface", "接口"),
    ("col.env", "Env", "环境"),
    ("col.operation", "Operation", "操作"),
    ("col.rows", "Rows", "行数"),
    ("col.status", "Status", "状态"),
    ("col.code", "Code", "代码"),
    ("col.file", "File", "文件"),
    ("col.schedule", "Schedule", "计划"),
    ("history.apply", "apply", "导入于"),
    ("history.revert", "revert", "回滚于"),
    ("history.result", "result", "结果"),
    ("history.corrects", "corrects batch", "修正批次"),
    ("history.older", "older →", "更早 →"),
    ("fix.js.loading", "Loading the failing rows…", "正在加载失败的行…"),
    ("fix.js.row", "Row", "行"),
    ("fix.js.cell", "{field} in row {line}", "第 {line} 行的 {field}"),
    ("fix.js.passes", "Every row passes: send the corrected sheet.", "所有行都已通过：请发送修改后的表格。"),
    ("fix.js.failing", "{n} of {total} rows still fail.", "{total} 行中仍有 {n} 行未通过。"),
    ("fix.js.page", "page {page} of {pages}", "第 {page} 页，共 {pages} 页"),
    ("fix.js.sending", "Sending the corrected sheet…", "正在发送修改后的表格…"),
    ("fix.js.unloaded", "The failing rows could not be loaded (HTTP {status}).", "无法加载失败的行（HTTP {status}）。"),
    ("fix.js.partial", "Only the first {shown} of {failing} failing rows can be fixed here: use your sheet with the errors marked for the rest.", "{failing} 行失败的行中，只有前 {shown} 行可以在此修改：其余的请在标出错误的表格中修改。"),
    ("upload.title", "Upload a sheet", "上传表格"),
    ("upload.none", "Your partner may not send any interface yet. Ask your wharf administrator to grant one.", "贵方目前还不能发送任何接口的数据。请联系 wharf 管理员为您开通接口。"),
    ("upload.environment", "Environment", "环境"),
    ("upload.env_choose", "choose: prod or uat", "请选择：prod 或 uat"),
    ("upload.env_prod", "prod — production data", "prod — 生产数据"),
    ("upload.env_uat", "uat — test data", "uat — 测试数据"),
    ("upload.op_insert", "insert — add new rows", "insert — 新增行"),
    ("upload.op_update", "update — add or change rows", "update — 新增或修改行"),
    ("upload.op_delete", "delete — remove the rows listed", "delete — 删除表中列出的行"),
    ("upload.op_all", "all — replace the whole data set", "all — 替换全部数据"),
    ("upload.all_warning", "I understand that all replaces every row of this interface in the chosen environment with the rows of this sheet; rows not in the sheet are removed.", "我了解 all 会用本表格的行替换所选环境中该接口的全部行；不在表格中的行将被删除。"),
    ("upload.when", "When", "执行时间"),
    ("upload.when_now", "Apply as soon as the sheet is in", "表格上传后立即导入"),
    ("upload.when_at", "Apply at", "导入时间"),
    ("upload.revert_at", "Revert at", "回滚时间"),
    ("upload.revert_at_note", "(optional: every row goes back to what it was)", "（可选：每一行都恢复为原来的数据）"),
    ("upload.when_hint", "Times are in your browser's time zone (UTC without JavaScript). A scheduled apply must be 2 hours to 30 days ahead; a revert 3 hours to 60 days ahead and at least 15 minutes after the apply.", "时间按您浏览器的时区填写（未启用 JavaScript 时为 UTC）。定时导入须在 2 小时至 30 天之后；回滚须在 3 小时至 60 天之后，并且至少比导入晚 15 分钟。"),
    ("upload.check_only", "Check only", "仅校验不导入"),
    ("upload.check_only_note", "validate everything and apply nothing", "校验全部规则，不导入任何数据"),
    ("upload.check_hint", "A check runs every rule, key clashes with the data already there included, and applies nothing. If every row passes, the result page has Apply now (no second upload) and Discard; a check nobody applies expires after 24 hours.", "校验会执行所有规则（包括与已有数据的主键冲突），但不导入任何数据。如果所有行都通过，结果页上会有“立即导入”（无需再次上传）和“放弃”两个按钮；校验结果 24 小时内无人导入即失效。"),
    ("upload.file", "Sheet (.xlsx or .csv, first row = field names, at most {mib} MiB)", "表格（.xlsx 或 .csv，第一行为字段名，最大 {mib} MiB）"),
    ("upload.submit", "Upload and apply", "上传并导入"),
    ("upload.submit_check", "Upload and check", "上传并校验"),
    ("upload.batch_hint", "The whole sheet is one batch: it is applied only if every row is valid. Otherwise nothing changes and you get the list of failing rows.", "整张表格是一个批次：只有所有行都有效时才会导入。否则数据不会有任何变化，您会收到失败的行的清单。"),
    ("upload.js.apply_all", "Replace ALL {interface} rows in {env} with the rows of this sheet? Rows not in the sheet will be removed.", "用本表格的行替换 {env} 中 {interface} 的全部行？不在表格中的行将被删除。"),
    ("upload.js.check_all", "Check replacing ALL {interface} rows in {env} with the rows of this sheet? Nothing is applied until you press Apply now.", "校验用本表格的行替换 {env} 中 {interface} 的全部行？在您点击“立即导入”之前不会导入任何数据。"),
    ("upload.templates", "Templates", "模板"),
    ("upload.templates_hint", "An empty workbook per interface: the field names are in row 1, and a second sheet explains each field (type, required, length, allowed values).", "每个接口一个空白工作簿：第 1 行是字段名，第二个工作表说明每个字段（类型、是否必填、长度、允许的值）。"),
    ("columns.title", "Match your columns", "按列匹配"),
    ("columns.intro", "wharf could not tell what every column of {file} holds for {interface}. Choose the field each column fills, or ignore it. Nothing has been sent yet.", "wharf 无法确定 {file} 的每一列对应接口 {interface} 的哪个字段。请为每一列选择它填写的字段，或忽略该列。目前尚未发送任何数据。"),
    ("columns.missing", "Required fields no column fills yet:", "尚无任何列填写的必填字段："),
    ("columns.column", "Column", "列"),
    ("columns.header", "Your header", "您的表头"),
    ("columns.samples", "First values", "前几个值"),
    ("columns.field", "Fills the field", "填写的字段"),
    ("columns.field_for", "field for column {column}", "第 {column} 列对应的字段"),
    ("columns.ignore", "ignore this column", "忽略此列"),
    ("columns.submit", "Use these columns and send", "按此匹配并发送"),
    ("columns.remembered", "wharf remembers your choice for {interface}: the next sheet with these headers, uploaded here or delivered by FTP, is read the same way.", "wharf 会记住您为 {interface} 做的选择：下次带有相同表头的表格，无论在此上传还是通过 FTP 发送，都会按同样方式读取。"),
    ("columns.cancel", "Cancel and go back", "取消并返回"),
    ("result.title", "Result", "结果"),
    ("result.message", "Message", "消息"),
    ("result.explained", "What it means", "含义"),
    ("result.rows_sent", "Rows sent", "发送行数"),
    ("result.rows_applied", "Rows applied", "导入行数"),
    ("result.batch", "Batch", "批次"),
    ("result.corrects", "Corrects", "修正"),
    ("result.corrects_batch", "batch {batch}", "批次 {batch}"),
    ("result.corrects_note", "(its failing rows fixed here)", "（在此修改了它失败的行）"),
    ("result.apply", "Apply", "导入"),
    ("result.revert", "Revert", "回滚"),
    ("result.detail", "Detail", "详情"),
    ("result.failing", "Failing rows", "失败的行"),
    ("result.count", "{n} errors.", "共 {n} 个错误。"),
    ("result.count_paged", "{n} errors, showing {first}–{last}.", "共 {n} 个错误，显示第 {first}–{last} 个。"),
    ("result.csv", "Download all as CSV", "全部下载为 CSV"),
    ("result.annotated", "Your sheet with the errors marked (.xlsx)", "标出错误的表格（.xlsx）"),
    ("result.fix", "Fix the failing rows here", "在此修改失败的行"),
    ("errors.row", "Row", "行"),
    ("errors.field", "Field", "字段"),
    ("errors.error", "Error", "错误"),
    ("errors.value", "Value sent", "发送的值"),
    ("errors.hint", "How to fix", "如何修改"),
    ("result.prev", "← previous", "← 上一页"),
    ("result.next", "next →", "下一页 →"),
    ("result.rows_hint", "Row numbers are the sheet's own (the header is row 1). Fix the rows and upload the whole sheet again: nothing of this upload was applied.", "行号即表格自身的行号（表头为第 1 行）。请修改这些行后重新上传整张表格：本次上传的数据均未导入。"),
    ("result.another", "Upload another sheet", "上传另一张表格"),
    ("state.applied", "applied", "已导入"),
    ("state.held", "scheduled", "已计划"),
    ("state.checked", "checked — nothing applied", "已校验 — 未导入"),
    ("state.reverted", "reverted", "已回滚"),
    ("state.cancelled", "cancelled", "已取消"),
    ("state.failed", "failed", "失败"),
    ("state.expired", "expired", "已过期"),
    ("state.rejected", "rejected", "已拒绝"),
    ("state.refused", "unreadable", "无法读取"),
    ("state.open", "in progress", "进行中"),
    ("state.unknown", "unknown", "未知"),
    ("message.back_upload", "Back to upload", "返回上传页"),
    ("message.go_login", "Go to login", "前往登录"),
    ("message.not_found", "Not found", "未找到"),
    ("message.not_found_text", "There is no such page, or it is not yours to see.", "没有这个页面，或者您无权查看。"),
    ("message.too_slow", "Too slow", "请求超时"),
    ("message.too_slow_text", "The request took too long and was stopped. Nothing was applied.", "请求用时过长，已被中止。未导入任何数据。"),
    ("message.csrf", "Form refused", "表单被拒绝"),
    ("message.csrf_text", "This form was not sent from this site, or it is too old. Nothing was done; open the page again and resend.", "此表单不是从本网站提交的，或者已经过期。未做任何操作；请重新打开页面后再提交。"),
    ("message.not_allowed", "Not allowed", "不允许"),
    ("message.not_allowed_text", "This page does not take that kind of request.", "此页面不接受这种请求。"),
    ("message.not_possible", "Not possible now", "目前无法执行"),
    ("message.unavailable", "wharf is not available", "wharf 暂时不可用"),
    ("message.unavailable_text", "The wharf core could not be reached or failed. Nothing was applied; try again in a moment.", "无法连接 wharf 核心服务，或其处理失败。未导入任何数据；请稍后重试。"),
    ("message.internal", "Internal error", "内部错误"),
    ("login.banned_until", "Too many failed logins: logging in is refused for now. Try again after {at} (in {secs} seconds).", "登录失败次数过多：暂时禁止登录。请在 {at} 之后（{secs} 秒后）重试。"),
    ("login.banned", "Too many failed logins: logging in is refused for now. Try again later.", "登录失败次数过多：暂时禁止登录。请稍后重试。"),
    ("login.wrong", "Wrong user name or password.", "用户名或密码错误。"),
    ("action.revert_batch", "Revert batch {batch} now? Every row it inserted, changed or deleted goes back to what it was before; rows changed since by a later batch are left and listed.", "立即回滚批次 {batch}？它新增、修改或删除的每一行都将恢复为原来的数据；之后已被其他批次修改的行保持不变，并会列出。"),
    ("action.revert", "Revert now", "立即回滚"),
    ("action.revert_confirm", "Revert this batch now? Every row it inserted, changed or deleted goes back to what it was before.", "立即回滚此批次？它新增、修改或删除的每一行都将恢复为原来的数据。"),
    ("action.execute", "Apply now", "立即导入"),
    ("action.execute_all", "Apply now? This sheet replaces ALL rows of the interface; rows not in it are removed.", "立即导入？此表格将替换该接口的全部行；不在表格中的行将被删除。"),
    ("action.discard", "Discard", "放弃"),
    ("action.discard_confirm", "Discard this checked sheet? Nothing of it will be applied.", "放弃这张已校验的表格？其中的数据都不会导入。"),
    ("action.cancel", "Cancel", "取消"),
    ("action.cancel_confirm", "Cancel this batch? It will never be applied.", "取消此批次？它将永远不会导入。"),
    ("headline.applied", "All {n} rows were applied.", "全部 {n} 行已导入。"),
    ("headline.open", "This batch is not complete yet; nothing has been applied.", "此批次尚未完整；尚未导入任何数据。"),
    ("headline.held", "Scheduled: all {n} rows will be applied at {at}.", "已计划：全部 {n} 行将于 {at} 导入。"),
    ("headline.checked", "Checked: all {n} rows pass, nothing was applied. Apply them now, or discard the check.", "已校验：全部 {n} 行均通过，未导入任何数据。请立即导入，或放弃此次校验。"),
    ("headline.reverted", "All {n} rows were applied, then reverted.", "全部 {n} 行曾导入，随后已回滚。"),
    ("headline.cancelled", "Cancelled: nothing was applied.", "已取消：未导入任何数据。"),
    ("headline.expired", "This batch expired before all of its rows arrived; nothing was applied.", "此批次在所有行到达之前已过期；未导入任何数据。"),
    ("headline.refused", "The file could not be read as a sheet; nothing was applied.", "无法将该文件读取为表格；未导入任何数据。"),
    ("headline.failed_1_1", "Nothing was applied: {errors} error in {rows} row. Fix it and upload the whole sheet again.", "未导入任何数据：{rows} 行中有 {errors} 个错误。请修改后重新上传整张表格。"),
    ("headline.failed_n_1", "Nothing was applied: {errors} errors in {rows} row. Fix it and upload the whole sheet again.", "未导入任何数据：{rows} 行中有 {errors} 个错误。请修改后重新上传整张表格。"),
    ("headline.failed_n_n", "Nothing was applied: {errors} errors in {rows} rows. Fix them and upload the whole sheet again.", "未导入任何数据：{rows} 行中共有 {errors} 个错误。请修改这些行后重新上传整张表格。"),
    ("headline.nothing", "Nothing was applied.", "未导入任何数据。"),
    ("how.exact", "matched: the header is the field's name", "已匹配：表头即字段名"),
    ("how.remembered", "as you matched it before", "按您上次的匹配"),
    ("how.label", "matched by the field's label", "已按字段的标签匹配"),
    ("how.alternate", "matched by a name this field is also known by", "已按该字段的别名匹配"),
    ("how.spelling", "matched: the field's name written another way", "已匹配：字段名的另一种写法"),
    ("how.extra", "kept as an extra field", "作为额外字段保留"),
    ("how.guess", "a suggestion: check it", "建议的匹配：请核对"),
    ("how.none", "no field has this name: choose one, or ignore the column", "没有字段叫这个名字：请选择一个字段，或忽略此列"),
    ("how.required", " (required)", "（必填）"),
    ("sent.gone", "Sheet no longer kept", "表格已不再保存"),
    ("sent.gone_text", "wharf keeps an uploaded sheet for a day. Download the errors as CSV from the result page, fix your sheet and upload it again.", "wharf 只保存上传的表格一天。请在结果页下载错误清单（CSV），修改表格后重新上传。"),
    ("annotated.failed", "The sheet with its errors marked could not be built. Download the errors as CSV instead.", "无法生成标出错误的表格。请改为下载错误清单（CSV）。"),
    ("upload.too_large", "The file is larger than {mib} MiB, the most one upload may hold. Split it into smaller sheets.", "文件超过 {mib} MiB，即单次上传的上限。请把它拆分成几张较小的表格。"),
    ("upload.unreadable", "The form could not be read ({why}). Please try again.", "无法读取表单（{why}）。请重试。"),
    ("upload.choose_interface", "Choose an interface.", "请选择接口。"),
    ("upload.choose_env", "Choose the environment: prod or uat.", "请选择环境：prod 或 uat。"),
    ("upload.choose_op", "Choose the operation: insert, update, delete or all.", "请选择操作：insert、update、delete 或 all。"),
    ("upload.confirm_all", "The operation \"all\" replaces the whole data set: tick the box to confirm it.", "操作“all”会替换全部数据：请勾选确认框。"),
    ("upload.check_scheduled", "Check only applies nothing, so there is nothing to schedule: choose \"Apply as soon as the sheet is in\" with no revert time, or untick Check only. You apply a checked sheet with its \"Apply now\" button.", "“仅校验不导入”不会导入任何数据，因此无需计划时间：请选择“表格上传后立即导入”且不填回滚时间，或取消勾选“仅校验不导入”。已校验的表格可通过它的“立即导入”按钮导入。"),
    ("upload.choose_file", "Choose a file to upload.", "请选择要上传的文件。"),
    ("login.unreadable", "The form could not be read.", "无法读取表单。"),
    ("login.expired", "This login form has expired or was not sent from this site. Please log in again.", "此登录表单已过期，或不是从本网站提交的。请重新登录。"),
    ("fix.err.body", "The request was too large or too slow.", "请求过大或过慢。"),
    ("fix.err.json", "The request was not JSON.", "请求不是 JSON 格式。"),
    ("fix.err.csrf", "The page was open too long or in another session: reload it.", "页面打开时间过长，或属于另一个会话：请刷新页面。"),
    ("fix.err.gone", "The uploaded sheet is no longer kept (wharf keeps it for a day): upload it again.", "上传的表格已不再保存（wharf 只保存一天）：请重新上传。"),
    ("fix.err.build", "The corrected sheet could not be built.", "无法生成修改后的表格。"),
    ("fix.err.read", "The corrected sheet could not be read.", "无法读取修改后的表格。"),
    ("fix.err.env", "No such environment.", "没有这个环境。"),
    ("upload.failed", "The sheet could not be processed. Nothing was applied.", "无法处理该表格。未导入任何数据。"),
    ("upload.held_gone", "The sheet you were matching columns for is no longer kept (wharf keeps it for a day). Upload it again.", "您正在匹配列的表格已不再保存（wharf 只保存一天）。请重新上传。"),
    ("upload.not_a_sheet", "\"{file}\" is not a sheet wharf reads: upload an .xlsx or .csv file.", "“{file}”不是 wharf 能读取的表格：请上传 .xlsx 或 .csv 文件。"),
    ("hint.also_one", " You may also write {value}.", " 也可以填写 {value}。"),
    ("hint.also_many", " You may also write one of: {values}.", " 也可以填写以下之一：{values}。"),
    ("hint.digit_one", "1 digit", "1 位"),
    ("hint.digits", "{n} digits", "{n} 位"),
    ("hint.shape_whole", "a whole number of at most {digits}", "最多 {digits}的整数"),
    ("hint.shape_split", "at most {before} before the decimal point and at most {after} after it", "整数部分最多 {before}，小数部分最多 {after}"),
    ("hint.control", "Remove the invisible control characters from this value (often pasted in from another program).", "请删除此值中不可见的控制字符（通常是从其他程序粘贴进来的）。"),
    ("hint.too_long", "Too long: use at most {n} characters.", "太长：最多 {n} 个字符。"),
    ("hint.date", "Use the date format {format}, a day the calendar has.", "请使用日期格式 {format}，并填写日历上存在的日期。"),
    ("hint.date_example", "Use the date format {format}, for example {example} (a day the calendar has).", "请使用日期格式 {format}，例如 {example}（须为日历上存在的日期）。"),
    ("hint.digits_only_max", "Use digits only (0-9), at most {n} of them.", "只能填写数字（0-9），最多 {n} 位。"),
    ("hint.digits_only", "Use digits only (0-9).", "只能填写数字（0-9）。"),
    ("hint.number", "Enter a plain number such as 12.5: {shape}; no spaces, thousands separators or units.", "请填写普通数字，例如 12.5：{shape}；不要带空格、千位分隔符或单位。"),
    ("hint.precision_whole", "Too many digits: {shape}.", "位数太多：应为{shape}。"),
    ("hint.precision_split", "At most {after} after the decimal point (and at most {before} before it).", "小数部分最多 {after}（整数部分最多 {before}）。"),
    ("hint.allowed_more", ", … ({n} in all)", "，…（共 {n} 个）"),
    ("hint.allowed", "Allowed: {values}{rest}. Write one of them exactly, capitals included.", "允许的值：{values}{rest}。请准确填写其中之一，大小写须一致。"),
    ("describe.allowed", "One of the allowed values, written exactly, capitals included", "允许的值之一，须准确填写，大小写一致"),
    ("describe.date", "A date written yyyy-mm-dd", "日期，格式为 yyyy-mm-dd"),
    ("describe.date_example", "A date written yyyy-mm-dd, for example {example}", "日期，格式为 yyyy-mm-dd，例如 {example}"),
    ("describe.digits_max", "Digits only (0-9), at most {n} of them; leading zeros are kept", "只能填写数字（0-9），最多 {n} 位；开头的 0 会保留"),
    ("describe.digits", "Digits only (0-9); leading zeros are kept", "只能填写数字（0-9）；开头的 0 会保留"),
    ("describe.decimal_shape", "A plain number such as 12.5: {shape}", "普通数字，例如 12.5：{shape}"),
    ("describe.decimal", "A plain number such as 12.5", "普通数字，例如 12.5"),
    ("describe.text_max", "Text, at most {n} characters", "文本，最多 {n} 个字符"),
    ("describe.text", "Text", "文本"),
    ("describe.end", ".", "。"),
    ("general.required", "Fill this in: it is required.", "此项为必填，请填写。"),
    ("general.length", "This value is too long.", "此值太长。"),
    ("general.number", "Enter a number here.", "此处请填写数字。"),
    ("general.precision", "This number has too many digits.", "此数字位数太多。"),
    ("general.date", "Enter a date that exists, written yyyy-mm-dd.", "请填写一个存在的日期，格式为 yyyy-mm-dd。"),
    ("general.not_allowed", "This value is not one this field takes.", "此字段不接受这个值。"),
    ("general.unknown", "This column is not a field of the interface: rename it to a field name (see the template) or remove it.", "此列不是该接口的字段：请把它改名为某个字段名（见模板），或删除此列。"),
    ("general.type", "Write this as plain text or a number (not true/false, a list or an object); a column that appears twice is refused the same way.", "请填写为普通文本或数字（不能是 true/false、列表或对象）；重复出现的列也会因此被拒绝。"),
    ("general.duplicate", "Another row has the same key.", "另一行的主键与此行相同。"),
    ("general.other", "This value was refused.", "此值被拒绝。"),
    ("dup.row", "Same key as row {line} ({key}): each row needs its own key. Remove one of the two rows or correct its key.", "与第 {line} 行的主键相同（{key}）：每一行的主键必须唯一。请删除两行中的一行，或更正其主键。"),
    ("dup.part", "Same key as row {line} of the same part ({key}): each row needs its own key. Remove one of the two rows or correct its key.", "与同一部分的第 {line} 行主键相同（{key}）：每一行的主键必须唯一。请删除两行中的一行，或更正其主键。"),
    ("dup.exists", "The key {key} already exists (in the stored data, or earlier in this upload). To change a stored row, upload with the operation update; otherwise remove or correct this row.", "主键 {key} 已存在（在已有数据中，或在本次上传的前面部分）。如需修改已有的行，请使用操作 update 上传；否则请删除或更正此行。"),
    ("dup.other", "Another row has the same key ({key}). Remove or correct one of them; to change a stored row, upload with the operation update.", "另一行的主键与此行相同（{key}）。请删除或更正其中一行；如需修改已有的行，请使用操作 update 上传。"),
    ("explain.abandoned", "The sheet was sent in parts, and some part had failing rows, so the whole sheet was withdrawn: nothing of it was applied. Fix the rows listed below and upload the sheet again.", "表格是分几部分发送的，其中有部分包含失败的行，因此整张表格已被撤回：其中的数据都未导入。请修改下面列出的行，然后重新上传表格。"),
    ("explain.checked", "Checked, not applied: every row passed every rule, keys already stored included. Apply now applies exactly these rows (their keys are checked once more as they are applied); Discard drops them.", "已校验，未导入：每一行都通过了所有规则（包括与已有数据的主键校验）。“立即导入”会导入的正是这些行（导入时会再次校验主键）；“放弃”则丢弃这些行。"),
    ("explain.ok", "Accepted.", "已接受。"),
    ("explain.verify", "Some rows break the interface's rules (each is listed below with how to fix it). Nothing of this upload was applied.", "有些行不符合接口的规则（下面逐行列出并说明如何修改）。本次上传的数据均未导入。"),
    ("explain.write", "Some rows have a key (the fields that identify a row) that is already taken: by another row of this sheet, or by data already stored. Nothing of this upload was applied. To change rows that exist, upload with the operation update.", "有些行的主键（用来识别一行的字段）已被占用：被本表格的另一行，或被已有数据占用。本次上传的数据均未导入。如需修改已有的行，请使用操作 update 上传。"),
    ("explain.multiple", "Two kinds of problems at once: some rows break the interface's rules and some rows have a key that is already taken. Nothing of this upload was applied.", "同时存在两类问题：有些行不符合接口的规则，有些行的主键已被占用。本次上传的数据均未导入。"),
    ("explain.retry", "This batch was refused too many times and has failed. Fix the sheet and upload it again as a new upload.", "此批次被拒绝的次数过多，已失败。请修改表格，然后作为一次新的上传重新上传。"),
    ("explain.consumed", "This data had already been received; nothing changed.", "这些数据之前已经收到；没有任何变化。"),
    ("explain.system", "A system error on our side. Nothing was applied; it is safe to try again.", "我方系统出错。未导入任何数据；可以放心重试。"),
    ("csv.row", "row", "行"),
    ("csv.field", "field", "字段"),
    ("csv.error", "error", "错误"),
    ("csv.value", "value", "值"),
    ("csv.hint", "how to fix", "如何修改"),
    ("workbook.not_allowed", "Not an allowed value", "不是允许的值"),
    ("workbook.list_only", "{field} takes only the values of its list.", "{field} 只接受列表中的值。"),
    ("workbook.field", "field", "字段"),
    ("workbook.label", "label", "名称"),
    ("workbook.what", "what to write", "填写说明"),
    ("workbook.required", "required", "必填"),
    ("workbook.example", "example", "示例"),
    ("workbook.allowed", "allowed values", "允许的值"),
    ("workbook.also", "also accepted", "也接受"),
    ("workbook.default", "default", "默认值"),
    ("workbook.key", "business key", "业务主键"),
    ("workbook.yes", "yes", "是"),
    ("workbook.no", "no", "否"),
    ("workbook.failed", "The template could not be built.", "无法生成模板。"),
    ("plan.by", "{plan} by {user}", "{plan}，操作人 {user}"),
    ("plan.idle", "idle", "等待中"),
    ("plan.running", "running", "执行中"),
    ("plan.finished", "finished", "已完成"),
    ("plan.failed", "failed", "失败"),
    ("plan.cancelled", "cancelled", "已取消"),
    ("plan.conflict", "conflict", "有冲突"),
    ("upload.not_multipart", "the form was not sent as multipart/form-data", "表单不是以 multipart/form-data 方式提交的"),
    // END OF CATALOGUE
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_translated_once() {
        let mut seen = std::collections::HashSet::new();
        for (key, en, zh) in CATALOGUE {
            assert!(seen.insert(key), "{key} twice");
            assert!(
                !en.trim().is_empty() && !zh.trim().is_empty(),
                "{key} empty"
            );
            assert!(
                en != zh || SAME_IN_BOTH.contains(key),
                "{key} is untranslated: {zh}"
            );
            // Chinese text has Chinese in it (a key left in English fails here too).
            let chinese = |c: char| {
                ('\u{4e00}'..='\u{9fff}').contains(&c)
                    || ('\u{3000}'..='\u{303f}').contains(&c)
                    || ('\u{ff00}'..='\u{ffef}').contains(&c)
            };
            assert!(
                SAME_IN_BOTH.contains(key) || zh.chars().any(chinese),
                "{key} has no Chinese: {zh}"
            );
            // Both fill the same placeholders.
            let holes = |s: &str| {
                let mut v: Vec<String> = s
                    .split('{')
                    .skip(1)
                    .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_string()))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(holes(en), holes(zh), "{key}: placeholders differ");
        }
    }

    #[test]
    fn every_key_the_templates_use_is_in_the_catalogue() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<std::path::PathBuf> = Vec::new();
        for sub in ["templates", "src"] {
            for e in std::fs::read_dir(dir.join(sub)).expect("dir") {
                files.push(e.expect("entry").path());
            }
        }
        let mut used = 0;
        for f in files {
            let text = std::fs::read_to_string(&f).expect("file");
            for call in ["t(\"", "tf(\"", "tp(\""] {
                for (at, _) in text.match_indices(call) {
                    // A call of ours, not the end of another name (`set_format("…")`).
                    let before = text[..at].chars().next_back().unwrap_or(' ');
                    if before.is_alphanumeric() || before == '_' {
                        continue;
                    }
                    let rest = &text[at + call.len()..];
                    let Some((key, _)) = rest.split_once('"') else {
                        continue;
                    };
                    let is_key =
                        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._".contains(c);
                    if key.is_empty() || !key.chars().all(is_key) {
                        continue;
                    }
                    used += 1;
                    assert!(
                        index().contains_key(key),
                        "{}: {key} is not in the catalogue",
                        f.display()
                    );
                }
            }
        }
        assert!(used > 10);
    }

    #[test]
    fn accept_language_and_q_values_choose() {
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Lang::ZhCn
        );
        assert_eq!(
            Lang::from_accept_language("en-US,en;q=0.9,zh-CN;q=0.8"),
            Lang::En
        );
        assert_eq!(
            Lang::from_accept_language("en;q=0.5, zh-TW;q=0.7"),
            Lang::ZhCn
        );
        assert_eq!(Lang::from_accept_language("zh;q=0, fr"), Lang::En);
        assert_eq!(Lang::from_accept_language("ZH-hans"), Lang::ZhCn);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
        assert_eq!(Lang::from_accept_language("*"), Lang::En);
    }

    #[test]
    fn the_switcher_returns_only_to_this_site() {
        assert!(local_path("/batches?before=3"));
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "evil",
            "",
        ] {
            assert!(!local_path(bad), "{bad}");
        }
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(fill("{n} of {m}", &[("n", &1), ("m", &"2")]), "1 of 2");
    }
}
