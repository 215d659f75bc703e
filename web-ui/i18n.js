// motcua web UI texts: Vietnamese (default, full diacritics) and English.
// Shared by the officers' pages (app.js) and the citizen page (track.js).
"use strict";

const TEXT = {
  vi: {
    draft_waiting: "Chờ lãnh đạo đơn vị xử lý duyệt", draft_approved: "Đã duyệt, chờ Bộ phận Một cửa phát hành phiếu yêu cầu bổ sung",
    title: "Bộ phận Một cửa", login: "Đăng nhập", username: "Tên đăng nhập", password: "Mật khẩu",
    sign_in: "Đăng nhập", logout: "Đăng xuất", other_lang: "English",
    bad_login: "Sai tên đăng nhập hoặc mật khẩu",
    nav_reception: "Tiếp nhận hồ sơ", nav_queues: "Hàng đợi", nav_dashboard: "Thống kê", nav_sync: "Đồng bộ",
    nav_admin: "Quản trị", nav_password: "Đổi mật khẩu", current_password: "Mật khẩu hiện tại", new_password: "Mật khẩu mới",
    change_password: "Đổi mật khẩu", reset_password: "Đặt lại mật khẩu", password_changed: "Đã đổi mật khẩu. Hãy đăng nhập lại bằng mật khẩu mới.",
    password_reset_done: "Đã đặt lại mật khẩu; các phiên đăng nhập của tài khoản này đã kết thúc.",
    node_commune: "Cấp xã", node_province: "Cấp tỉnh", node_agency: "Cơ quan chuyên môn",
    role_admin: "Quản trị", role_receptionist: "Cán bộ một cửa", role_specialist: "Chuyên viên", role_leader: "Lãnh đạo",
    offline: "Mất kết nối với các nút khác. Công việc vẫn tiếp tục bình thường: hồ sơ được lưu tại máy này và sẽ tự đồng bộ khi có mạng.",
    // reception
    reception: "Tiếp nhận hồ sơ", procedure: "Thủ tục hành chính", procedure_hint: "Mã hoặc tên thủ tục, gõ không dấu cũng được",
    case: "Trường hợp", checklist: "Thành phần hồ sơ", doc_received: "Đã nhận", originals: "Bản chính", copies: "Bản sao",
    required: "bắt buộc", applicant: "Người nộp hồ sơ", full_name: "Họ và tên", id_number: "Số định danh cá nhân",
    phone: "Số điện thoại", address: "Địa chỉ", email: "Thư điện tử", channel: "Hình thức nộp", sets: "Số bộ hồ sơ",
    channel_direct: "Trực tiếp", channel_online: "Trực tuyến", channel_post: "Bưu chính",
    fees: "Phí, lệ phí", no_fee: "Không thu phí", at_receipt: "thu khi tiếp nhận", at_result: "thu khi trả kết quả",
    at_supplement: "thu khi bổ sung", processing_time: "Thời hạn giải quyết", save_receive: "Tiếp nhận và in phiếu hẹn",
    id_invalid: "Số định danh cá nhân gồm đúng 12 chữ số", pick_procedure: "Chọn một thủ tục trong danh sách",
    duplicate: "Người này đang có hồ sơ chưa giải quyết xong cho cùng thủ tục:", received_ok: "Đã tiếp nhận hồ sơ",
    print: "In", print_receipt: "In phiếu hẹn (2 liên)", new_dossier: "Tiếp nhận hồ sơ khác", open_dossier: "Xem hồ sơ",
    working_days: "ngày làm việc", calendar_days: "ngày", hours: "giờ", same_day: "trong ngày",
    // queues
    q_today: "Nhận hôm nay", q_in_process: "Đang xử lý", q_supplement: "Chờ bổ sung", q_ready: "Chờ trả kết quả",
    q_due_soon: "Sắp đến hạn", q_overdue: "Quá hạn", q_conflicts: "Xung đột cần xử lý", q_all: "Tất cả", search_hint: "Mã hồ sơ, họ tên hoặc số định danh",
    find: "Tìm", code: "Mã hồ sơ", state: "Trạng thái", received: "Ngày nhận", due: "Ngày hẹn trả",
    found: (n) => `${n} hồ sơ`, prev: "Trang trước", next: "Trang sau", page_of: (a, b) => `Trang ${a}/${b}`,
    none: "Không có hồ sơ nào", print_logbook: "In sổ theo dõi",
    // dossier
    back: "Quay lại", history: "Quá trình xử lý", conflicts: "Xung đột cần xử lý", actions: "Thao tác",
    no_actions: "Bạn không có thao tác nào với hồ sơ này ở trạng thái hiện tại.",
    replicated: "Đã lưu ở tỉnh", not_replicated: "Chưa lưu ở tỉnh",
    forked: "Rẽ nhánh", fork_help: "Nút này đã ký hai thay đổi khác nhau cùng số thứ tự (khóa bị lộ hoặc khôi phục từ bản sao cũ); các thay đổi sau của nó trong hồ sơ đó bị cách ly",
    refused_by_province: "Tỉnh từ chối bản hồ sơ này:", refused_by_peer: "Nút đồng bộ từ chối bản hồ sơ này:", overdue: "Quá hạn", paused: "Đang tạm dừng chờ bổ sung",
    received_by: "Người tiếp nhận", holder: "Đơn vị đang giữ", result: "Kết quả", note: "Ghi chú", reason: "Lý do",
    to_unit: "Chuyển đến đơn vị (mã)", missing: "Giấy tờ cần bổ sung (mỗi dòng một giấy tờ)",
    deadline: "Hạn bổ sung", step: "Bước xử lý", steps: "Các bước xử lý", st_step: "Bước", st_unit: "Đơn vị thực hiện",
    st_started: "Bàn giao", st_deadline: "Hạn hoàn thành", st_ended: "Hoàn thành", st_result: "Kết quả", st_running: "Đang thực hiện",
    action_undone_recall: "Bị thu hồi", action_undone_return_to_previous: "Bị trả lại bước trước", new_due_at: "Ngày hẹn mới", confirm: "Xác nhận", documents: "Giấy tờ đã nhận", digitized: "đã số hóa",
    on_time_early: "Trước hạn", on_time_on_time: "Đúng hạn", on_time_late: "Trễ hạn",
    forms: "Biểu mẫu", form1: "Phiếu tiếp nhận và hẹn trả kết quả", form2: "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ",
    form3: "Phiếu từ chối tiếp nhận giải quyết hồ sơ", form4: "Phiếu xin lỗi và hẹn lại ngày trả kết quả",
    form5: "Phiếu kiểm soát quá trình giải quyết hồ sơ", form6: "Sổ theo dõi hồ sơ",
    saved: "Đã lưu", unreachable: "Không kết nối được với máy chủ của nút. Kiểm tra máy chủ rồi thử lại.",
    // attachments
    attachments: "Tệp đính kèm", drop_files: "Kéo thả tệp PDF, JPEG hoặc PNG vào đây, hoặc", choose_files: "Chọn tệp",
    files_after_receipt: "Các tệp được gửi ngay sau khi tiếp nhận hồ sơ.", send_files: "Gửi tệp", remove: "Bỏ",
    file: "Tệp", size: "Dung lượng", kind: "Loại", kind_component: "Thành phần hồ sơ", kind_result: "Kết quả",
    line: "Giấy tờ được số hóa", attached_by: "Người đính kèm", file_state: "Tình trạng",
    up_waiting: "Chờ gửi", up_sending: (p) => `Đang gửi ${p}%`, up_done: "Đã gửi", up_again: "Đã đính kèm từ trước",
    file_held: "Đã có tại đây", file_receiving: (p) => `Đang nhận ${p}%`, file_at_province: "Đã lên tỉnh",
    no_files: "Hồ sơ chưa có tệp đính kèm.", result_file: "Tệp kết quả điện tử", signed_result: "Kết quả đã ký",
    no_result_file: "Chưa có tệp kết quả nào được đính kèm (loại “Kết quả”); kết quả sẽ được ghi nhận không kèm tệp điện tử.",
    peer_files: "Tệp đính kèm", files_to_receive: "Chờ nhận", waiting_since: "từ", files_received: "Đã nhận",
    file_err_not_that_type: (type) => `Tệp này không phải tệp ${type}: nội dung của tệp không đúng định dạng ${type}`,
    file_err_unsupported: "Chỉ nhận tệp PDF, JPEG hoặc PNG", file_err_too_big: "Tệp lớn hơn 64 MB (giới hạn của một tệp)",
    file_err_dossier_full: "Hồ sơ không còn đủ chỗ cho tệp này (mỗi hồ sơ giữ tối đa 512 MB tệp)",
    file_err_too_many: "Hồ sơ đã có đủ 200 tệp (giới hạn của một hồ sơ)", file_err_empty: "Tệp rỗng (0 byte)",
    file_err_disk_full: "Ổ đĩa của máy chủ đã đầy; tệp chưa được lưu. Hãy báo quản trị viên",
    file_err_broken: "Việc gửi tệp bị gián đoạn; tệp chưa được lưu. Hãy gửi lại",
    file_err_network: "Mất kết nối với máy chủ khi đang gửi tệp; tệp chưa được lưu. Hãy gửi lại",
    // dashboard
    dashboard: "Thống kê", today: "Hôm nay", this_month: "Tháng này", period: "Khoảng thời gian", from: "Từ ngày",
    to: "Đến ngày", show: "Xem", s_received: "Tiếp nhận", s_early: "Giải quyết trước hạn", s_on_time: "Giải quyết đúng hạn",
    s_late: "Giải quyết quá hạn", s_uncollected: "Chưa trả kết quả", s_within: "Đang xử lý trong hạn", s_overdue: "Đang xử lý quá hạn", s_refused: "Từ chối",
    s_withdrawn: "Rút hồ sơ", s_stopped: "Dừng xử lý", s_rate: "Tỷ lệ đúng hạn", s_online: "Tỷ lệ nộp trực tuyến",
    s_received_digitized: "Tỷ lệ hồ sơ số hóa khi tiếp nhận", s_results_digitized: "Tỷ lệ kết quả được số hóa",
    // sync
    sync: "Trạng thái đồng bộ", peer: "Nút", role: "Vai trò", connected: "Kết nối", yes: "Có", no: "Không",
    last_sync: "Đồng bộ lần cuối", pending: "Đang chờ gửi", unsynced_since: "Chưa đồng bộ từ",
    at_risk: "Hồ sơ có nguy cơ trễ hạn", unit: "Đơn vị", by_unit: "Theo đơn vị", by_procedure: "Thời gian giải quyết trung bình theo thủ tục", by_field: "Theo lĩnh vực (biểu II.06a)", export_ii06a: "Xuất biểu II.06a (Excel)", field: "Lĩnh vực", f_received: "Nhận giải quyết", f_online: "Trực tuyến", f_direct: "Trực tiếp, bưu chính", f_carried: "Từ kỳ trước", f_resolved: "Đã giải quyết", f_in_process: "Đang giải quyết", total: "Tổng cộng", s_returned: "Đã trả kết quả", s_average: "Thời gian trung bình", whole_province: "Toàn tỉnh", never: "Chưa bao giờ", last_error: "Lỗi gần nhất",
    no_peers: "Nút này chưa được cấu hình nút ngang hàng nào.",
    // admin
    admin: "Quản trị", accounts: "Tài khoản", roles: "Vai trò", create_account: "Tạo tài khoản", disabled: "Đã khóa",
    disable: "Khóa", enable: "Mở khóa", calendar: "Lịch làm việc", holidays: "Ngày nghỉ lễ", make_up: "Ngày làm bù",
    catalog: "Danh mục thủ tục", catalog_count: (n) => `${n} thủ tục`, version: "phiên bản",
    // track
    one_stop_desk: "Bộ phận Một cửa",
    err_unexpected: "Yêu cầu không thực hiện được", err_invalid_value: "Thông tin chưa hợp lệ",
    err_invalid_state: "Thao tác không phù hợp với trạng thái hiện tại của hồ sơ",
    err_invalid_deadline: "Thời hạn không hợp lệ", err_forbidden: "Tài khoản không có quyền thực hiện thao tác này",
    err_not_found: "Không tìm thấy", err_exists: "Đã có", err_account_disabled: "Tài khoản đã bị khóa; liên hệ quản trị viên",
    err_too_many_attempts: "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau ít phút",
    err_too_many_requests: "Quá nhiều yêu cầu. Vui lòng thử lại sau ít phút", err_busy: "Hệ thống đang bận. Vui lòng thử lại sau một phút",
    err_store_error: "Không ghi được vào bộ nhớ của nút; chưa có gì được lưu. Vui lòng thử lại",
    err_body_too_large: "Dữ liệu gửi lên quá lớn", err_malformed_json: "Dữ liệu gửi lên không đúng định dạng",
    err_csrf: "Phiên làm việc đã thay đổi; vui lòng tải lại trang", err_cross_site: "Không đăng nhập được từ trang của nơi khác",
    err_stale_document: "Tệp này không mới hơn tệp nút đang dùng", err_invalid_calendar: "Lịch làm việc không hợp lệ",
    err_malformed_catalog: "Không đọc được danh mục thủ tục", err_bad_signature: "Chữ ký của tỉnh không hợp lệ",
    err_no_province: "Nút chạy thử không thuộc tỉnh nào", err_internal: "Lỗi hệ thống của nút",
    err_password_too_short: "Mật khẩu phải có ít nhất 15 ký tự", err_password_too_long: "Mật khẩu dài quá 256 ký tự",
    err_password_common: "Mật khẩu quá dễ đoán (mật khẩu phổ biến, chỉ thêm số hoặc ký hiệu, trùng tên đăng nhập hay lặp một ký tự); hãy chọn mật khẩu khác",
    track_title: "Tra cứu hồ sơ", track_code: "Mã hồ sơ (ghi trên phiếu hẹn)", track_id: "4 số cuối số định danh cá nhân",
    track_find: "Tra cứu", track_not_found: "Không tìm thấy hồ sơ với mã và số định danh này.",
    collect_at: "Nơi nhận kết quả", appointment: "Ngày hẹn trả kết quả", returned_at: "Ngày trả kết quả",
    result_ready: "Kết quả đã sẵn sàng, mời ông/bà đến nhận.",
    track_too_many: "Ông/bà đã tra cứu quá nhiều lần. Vui lòng thử lại sau ít phút.",
    track_locked: "Đã nhập sai số định danh quá nhiều lần cho mã hồ sơ này. Vui lòng thử lại sau 15 phút.",
    track_invalid: "Mã hồ sơ hoặc 4 số cuối số định danh không đúng định dạng.",
    track_failed: "Không tra cứu được lúc này. Vui lòng thử lại sau.",
  },
  en: {
    draft_waiting: "Waiting for the processing unit's leader", draft_approved: "Approved, waiting for the one-stop desk to issue the request",
    title: "One-stop desk", login: "Log in", username: "Username", password: "Password",
    sign_in: "Log in", logout: "Log out", other_lang: "Tiếng Việt",
    bad_login: "Wrong username or password",
    nav_reception: "Reception", nav_queues: "Queues", nav_dashboard: "Statistics", nav_sync: "Sync", nav_admin: "Admin", nav_password: "Change password",
    current_password: "Current password", new_password: "New password", change_password: "Change password", reset_password: "Reset password",
    password_changed: "Password changed. Log in again with the new password.", password_reset_done: "Password reset; the account's sessions have ended.",
    node_commune: "Commune", node_province: "Province", node_agency: "Agency",
    role_admin: "Administrator", role_receptionist: "One-stop officer", role_specialist: "Specialist", role_leader: "Leader",
    offline: "No connection to other nodes. Work continues as usual: dossiers are saved on this machine and sync by themselves when the network is back.",
    reception: "Receive a dossier", procedure: "Procedure", procedure_hint: "Procedure code or name, accents optional",
    case: "Case", checklist: "Documents", doc_received: "Received", originals: "Originals", copies: "Copies",
    required: "required", applicant: "Applicant", full_name: "Full name", id_number: "Personal ID number",
    phone: "Phone", address: "Address", email: "Email", channel: "Channel", sets: "Number of sets",
    channel_direct: "In person", channel_online: "Online", channel_post: "Post",
    fees: "Fees", no_fee: "No fee", at_receipt: "collected at receipt", at_result: "collected with the result",
    at_supplement: "collected at supplement", processing_time: "Processing time", save_receive: "Receive and print the slip",
    id_invalid: "A personal ID number has exactly 12 digits", pick_procedure: "Pick a procedure from the list",
    duplicate: "This person already has an open dossier for the same procedure:", received_ok: "Dossier received",
    print: "Print", print_receipt: "Print the slip (2 copies)", new_dossier: "Receive another", open_dossier: "Open the dossier",
    working_days: "working days", calendar_days: "days", hours: "hours", same_day: "same day",
    q_today: "Received today", q_in_process: "In process", q_supplement: "Waiting for supplement", q_ready: "Result ready",
    q_due_soon: "Due soon", q_overdue: "Overdue", q_conflicts: "Conflicts to resolve", q_all: "All", search_hint: "Dossier code, name or ID number",
    find: "Search", code: "Dossier code", state: "State", received: "Received", due: "Appointment",
    found: (n) => `${n} dossiers`, prev: "Previous", next: "Next", page_of: (a, b) => `Page ${a}/${b}`,
    none: "No dossiers", print_logbook: "Print the logbook",
    back: "Back", history: "History", conflicts: "Conflicts to resolve", actions: "Actions",
    no_actions: "You have no action on this dossier in its current state.",
    replicated: "Saved at the province", not_replicated: "Not yet at the province",
    forked: "Forked", fork_help: "This node signed two different changes with one sequence number (a stolen key or a restore from an old copy); its later changes in that dossier are quarantined",
    refused_by_province: "The province refused this version:", refused_by_peer: "A peer refused this version:", overdue: "Overdue",
    paused: "Paused, waiting for supplement", received_by: "Received by", holder: "Held by", result: "Result",
    note: "Note", reason: "Reason", to_unit: "Transfer to unit (code)", missing: "Missing documents (one per line)",
    deadline: "Supplement deadline", step: "Workflow step", steps: "Workflow steps", st_step: "Step", st_unit: "Carried out by",
    st_started: "Handed over", st_deadline: "Due", st_ended: "Ended", st_result: "Result", st_running: "Running",
    action_undone_recall: "Recalled", action_undone_return_to_previous: "Returned to the previous step", new_due_at: "New appointment", confirm: "Confirm", documents: "Documents received", digitized: "digitized",
    on_time_early: "Early", on_time_on_time: "On time", on_time_late: "Late",
    forms: "Forms", form1: "Receipt and appointment slip", form2: "Request to supplement", form3: "Refusal slip",
    form4: "Apology and new appointment", form5: "Process control sheet", form6: "Dossier logbook",
    saved: "Saved", unreachable: "Cannot reach this node's server. Check it and try again.",
    attachments: "Attached files", drop_files: "Drop PDF, JPEG or PNG files here, or", choose_files: "Choose files",
    files_after_receipt: "The files are sent as soon as the dossier is received.", send_files: "Send the files", remove: "Remove",
    file: "File", size: "Size", kind: "Kind", kind_component: "Component", kind_result: "Result",
    line: "Document it digitizes", attached_by: "Attached by", file_state: "State",
    up_waiting: "Waiting", up_sending: (p) => `Sending ${p}%`, up_done: "Sent", up_again: "Already attached",
    file_held: "Held here", file_receiving: (p) => `Receiving ${p}%`, file_at_province: "At the province",
    no_files: "No files attached yet.", result_file: "Electronic result file", signed_result: "Signed result",
    no_result_file: "No result file attached yet (kind “Result”); the result will be recorded without an electronic file.",
    peer_files: "Files", files_to_receive: "To receive", waiting_since: "since", files_received: "Received",
    file_err_not_that_type: (type) => `This file is not a ${type}: its contents are not in the ${type} format`,
    file_err_unsupported: "Only PDF, JPEG or PNG files are taken", file_err_too_big: "The file is larger than 64 MB (the limit for one file)",
    file_err_dossier_full: "The dossier has no room left for this file (at most 512 MB of files a dossier)",
    file_err_too_many: "The dossier already keeps 200 files (the limit for one dossier)", file_err_empty: "The file is empty (0 bytes)",
    file_err_disk_full: "The node's disk is full; the file was not saved. Tell the administrator",
    file_err_broken: "The upload broke off; the file was not saved. Send it again",
    file_err_network: "The connection to the node broke off while sending; the file was not saved. Send it again",
    dashboard: "Statistics", today: "Today", this_month: "This month", period: "Period", from: "From", to: "To",
    show: "Show", s_received: "Received", s_early: "Resolved early", s_on_time: "Resolved on time", s_late: "Resolved late",
    s_uncollected: "Results not yet collected",
    s_within: "In process, within deadline", s_overdue: "In process, overdue", s_refused: "Refused",
    s_withdrawn: "Withdrawn", s_stopped: "Stopped", s_rate: "On-time rate", s_online: "Received online",
    s_received_digitized: "Digitized at receipt", s_results_digitized: "Results digitized",
    sync: "Sync status", peer: "Node", role: "Role", connected: "Connected", yes: "Yes", no: "No",
    last_sync: "Last synced", pending: "Pending", unsynced_since: "Not synced since",
    at_risk: "Dossiers at risk of missing the deadline", unit: "Unit", by_unit: "By unit", by_procedure: "Average processing time by procedure", by_field: "By field (report II.06a)", export_ii06a: "Export report II.06a (Excel)", field: "Field", f_received: "Received", f_online: "Online", f_direct: "In person, by post", f_carried: "Carried over", f_resolved: "Resolved", f_in_process: "In process", total: "Total", s_returned: "Returned", s_average: "Average time", whole_province: "Whole province", never: "Never", last_error: "Last error",
    no_peers: "This node has no peers configured.",
    admin: "Administration", accounts: "Accounts", roles: "Roles", create_account: "Create account", disabled: "Disabled",
    disable: "Disable", enable: "Enable", calendar: "Working calendar", holidays: "Holidays", make_up: "Make-up working days",
    catalog: "Procedure catalog", catalog_count: (n) => `${n} procedures`, version: "version",
    one_stop_desk: "One-stop desk",
    err_unexpected: "The request could not be carried out", err_invalid_value: "Some information is not valid",
    err_invalid_state: "This action does not fit the dossier's current state",
    err_invalid_deadline: "The deadline is not valid", err_forbidden: "This account may not do this",
    err_not_found: "Not found", err_exists: "Already exists", err_account_disabled: "This account is disabled; ask the administrator",
    err_too_many_attempts: "Too many failed logins. Please try again in a few minutes",
    err_too_many_requests: "Too many requests. Please try again in a few minutes", err_busy: "The node is busy. Please try again in a minute",
    err_store_error: "The node could not write to its store; nothing was saved. Please try again",
    err_body_too_large: "What was sent is too large", err_malformed_json: "What was sent is not in the right form",
    err_csrf: "The session has changed; please reload the page", err_cross_site: "A login from another site's page is refused",
    err_stale_document: "This file is not newer than the one the node holds", err_invalid_calendar: "The working calendar is not valid",
    err_malformed_catalog: "The procedure catalog cannot be read", err_bad_signature: "The province's signature is not valid",
    err_no_province: "A demo node belongs to no province", err_internal: "The node failed internally",
    err_password_too_short: "A password has at least 15 characters", err_password_too_long: "A password has at most 256 characters",
    err_password_common: "This password is too easy to guess (a common one, one with digits or signs added, the username or one character repeated); choose another",
    track_title: "Track a dossier", track_code: "Dossier code (on the appointment slip)", track_id: "Last 4 digits of the ID number",
    track_find: "Track", track_not_found: "No dossier with this code and ID number.",
    collect_at: "Collect the result at", appointment: "Appointment", returned_at: "Returned on",
    result_ready: "The result is ready; please come and collect it.",
    track_too_many: "Too many lookups. Please try again in a few minutes.",
    track_locked: "Too many wrong ID numbers for this dossier code. Please try again in 15 minutes.",
    track_invalid: "The dossier code or the last 4 digits are not in the right form.",
    track_failed: "The lookup is not possible right now. Please try again later.",
  },
};

// National status codes (DOMAIN.md).
const STATES = {
  1: ["Mới đăng ký", "Submitted online"], 2: ["Được tiếp nhận", "Accepted"], 3: ["Không được tiếp nhận", "Not accepted"],
  4: ["Đang xử lý", "In process"], 5: ["Yêu cầu bổ sung", "Supplement requested"],
  6: ["Yêu cầu thực hiện nghĩa vụ tài chính", "Financial obligation requested"],
  7: ["Công dân yêu cầu rút hồ sơ", "Withdrawal requested"], 8: ["Dừng xử lý", "Processing stopped"],
  9: ["Đã xử lý xong", "Result ready"], 10: ["Đã trả kết quả", "Result returned"],
};

const ACTIONS = {
  receive: ["Tiếp nhận", "Received"], accept: ["Tiếp nhận hồ sơ trực tuyến", "Accept"],
  refuse: ["Từ chối tiếp nhận", "Refuse"], start_processing: ["Bắt đầu xử lý", "Start processing"],
  transfer: ["Chuyển xử lý", "Transfer"], request_supplement: ["Yêu cầu bổ sung", "Request supplement"],
  supplement_received: ["Đã nhận bổ sung", "Supplement received"],
  request_financial_obligation: ["Yêu cầu thực hiện nghĩa vụ tài chính", "Request financial obligation"],
  financial_obligation_fulfilled: ["Đã thực hiện nghĩa vụ tài chính", "Financial obligation fulfilled"],
  processed: ["Đã xử lý xong", "Processed"], return_result: ["Trả kết quả", "Return the result"],
  request_withdrawal: ["Công dân xin rút hồ sơ", "Withdrawal requested"], stop: ["Dừng xử lý", "Stop processing"],
  reappoint: ["Hẹn lại ngày trả", "Re-appoint"], handover: ["Bàn giao hồ sơ", "Handover"],
  return_to_previous: ["Trả lại bước trước", "Return to the previous step"], recall: ["Thu hồi hồ sơ đã chuyển", "Recall the transfer"],
  reset_appointment: ["Điều chỉnh ngày hẹn (quản trị)", "Correct the appointment (admin)"], revoke_result: ["Hủy ghi nhận đã trả kết quả (quản trị)", "Revoke the recorded return (admin)"],
  attach: ["Đính kèm tệp", "Attach a file"], resolve_conflict: ["Giải quyết xung đột", "Resolve conflict"],
  draft_supplement: ["Dự thảo yêu cầu bổ sung", "Draft a supplement request"], approve_supplement: ["Duyệt dự thảo yêu cầu bổ sung", "Approve the supplement draft"],
};

let lang = localStorage.getItem("motcua.lang") === "en" ? "en" : "vi";
const t = (k) => TEXT[lang][k] ?? k;
const stateName = (s) => (STATES[s] ? STATES[s][lang === "vi" ? 0 : 1] : String(s));
const actionName = (a) => (ACTIONS[a] ? ACTIONS[a][lang === "vi" ? 0 : 1] : a);
const LOCALE = () => (lang === "vi" ? "vi-VN" : "en-GB");
const TZ = "Asia/Ho_Chi_Minh";
const when = (s) => (s ? new Date(s).toLocaleString(LOCALE(), { timeZone: TZ, dateStyle: "short", timeStyle: "short" }) : "");
const day = (s) => (s ? new Date(s).toLocaleDateString(LOCALE(), { timeZone: TZ }) : "");
const hhmm = (s) => (s ? new Date(s).toLocaleTimeString(LOCALE(), { timeZone: TZ, hour: "2-digit", minute: "2-digit" }) : "");
const money = (n) => `${Number(n).toLocaleString("vi-VN")} đ`;
/** Folds Vietnamese text for search: no diacritics, đ → d, lower case. */
const fold = (s) => s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[đĐ]/g, "d").toLowerCase();

/** Builds an element: h("p", {class: "x"}, "text", child, ...). Text is never parsed as HTML. */
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else if (v === true) e.setAttribute(k, "");
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}
const $ = (id) => document.getElementById(id);
