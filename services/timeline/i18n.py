"""Words of the timeline page: Bahasa Indonesia for agency staff by default, English on request.

``TEXT`` maps a key to its (Indonesian, English) pair; event summaries are rebuilt from each
entry's data in the reader's language, falling back to the stored (English) summary.
"""

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from contracts.regions import WITA, kaltim_regions

LANGS = ("id", "en")
DEFAULT_LANG = "id"
"""East Kalimantan's clock (Waktu Indonesia Tengah, UTC+8)."""

TEXT: dict[str, tuple[str, str]] = {
    "app.tagline": ("Satu linimasa intervensi per rumah tangga",
                    "One intervention timeline per household"),
    "nav.overview": ("Ringkasan provinsi", "Province overview"),
    "nav.find": ("Cari rumah tangga", "Find a household"),
    "nav.find.placeholder": ("kode rumah tangga, mis. h-8a1a…", "household ref, e.g. h-8a1a…"),
    "nav.find.go": ("Buka", "Open"),
    "lang.switch": ("English", "Bahasa Indonesia"),
    "footer": ("Sinergi · Dinsos, Dinas PUPR dan Disdik Provinsi Kalimantan Timur · "
               "waktu dalam WITA (UTC+8)",
               "Sinergi · Dinsos, Dinas PUPR and Disdik of East Kalimantan · "
               "times in WITA (UTC+8)"),
    "household.title": ("Linimasa rumah tangga", "Household timeline"),
    "household.region": ("Kabupaten/kota", "Kabupaten/kota"),
    "household.entries": ("{count} catatan dari {agencies} instansi",
                          "{count} entries from {agencies} agencies"),
    "household.history": ("Riwayat intervensi", "Intervention history"),
    "household.missing": ("Belum ada catatan untuk rumah tangga {ref}.",
                          "No timeline entries for household {ref} yet."),
    "household.missing.hint": ("Periksa kode rumah tangga, atau kembali ke ringkasan provinsi.",
                               "Check the household ref, or go back to the province overview."),
    "col.time": ("Waktu (WITA)", "Time (WITA)"),
    "col.agency": ("Instansi", "Agency"),
    "col.event": ("Kejadian", "Event"),
    "col.summary": ("Ringkasan", "Summary"),
    "col.cause": ("Disebabkan oleh", "Caused by"),
    "cause.outside": ("catatan masuk …{id} (di luar linimasa)",
                      "intake record …{id} (not on this timeline)"),
    "cause.none": ("—", "—"),
    "status.title": ("Status saat ini", "Current status"),
    "status.housing": ("Kebutuhan perumahan", "Housing needs"),
    "status.housing.none": ("Tidak ada kebutuhan perumahan", "No housing needs"),
    "status.housing.summary": ("{open} terbuka, {resolved} selesai",
                               "{open} open, {resolved} resolved"),
    "status.children": ("Anak (PKH pendidikan)", "Children (PKH education)"),
    "status.children.enrolled": ("{count} anak terdaftar sekolah", "{count} enrolled"),
    "status.children.at_risk": ("{count} berisiko putus sekolah", "{count} at dropout risk"),
    "status.children.none_at_risk": ("tidak ada yang berisiko putus sekolah",
                                     "none at dropout risk"),
    "status.child.followed": ("tindak lanjut dibuka", "follow-up opened"),
    "status.child.not_followed": ("belum ada tindak lanjut", "no follow-up yet"),
    "status.grant": ("Bantuan usaha", "Business grant"),
    "status.grant.yes": ("Diberikan: {amount}", "Awarded: {amount}"),
    "status.grant.no": ("Belum", "Not yet"),
    "status.graduated": ("Graduasi", "Graduation"),
    "status.graduated.yes": ("Sudah lulus, {date}", "Graduated on {date}"),
    "status.graduated.no": ("Belum lulus", "Not graduated"),
    "need.state.waiting": ("terbuka · menunggu tiket", "open · awaiting a ticket"),
    "need.state.opened": ("terbuka · tiket dibuka", "open · ticket opened"),
    "need.state.scheduled": ("terbuka · dijadwalkan", "open · scheduled"),
    "need.state.in_progress": ("terbuka · sedang dikerjakan", "open · in progress"),
    "need.state.completed": ("terbuka · selesai dikerjakan", "open · work completed"),
    "need.state.rejected": ("terbuka · tiket ditolak", "open · ticket rejected"),
    "need.state.resolved": ("selesai", "resolved"),
    "overview.title": ("Ringkasan Provinsi Kalimantan Timur", "East Kalimantan province overview"),
    "overview.funnel": ("Tahapan intervensi per kabupaten/kota",
                        "Intervention funnel per kabupaten/kota"),
    "overview.funnel.note": ("Jumlah rumah tangga yang telah mencapai setiap tahap, menurut "
                             "kabupaten/kota tempat terdaftar.",
                             "Households that reached each stage, by the kabupaten/kota "
                             "they registered in."),
    "overview.chart": ("Grafik tahapan intervensi per kabupaten/kota",
                       "Chart of the intervention funnel per kabupaten/kota"),
    "overview.region": ("Kabupaten/kota", "Kabupaten/kota"),
    "overview.total": ("Kalimantan Timur", "East Kalimantan"),
    "overview.sla": ("Pelanggaran SLA", "SLA breaches"),
    "sla.flags": ("Penandaan rumah tanpa tiket setelah {hours} jam",
                  "Housing flags without a works ticket after {hours} h"),
    "sla.tickets": ("Tiket pekerjaan melewati tenggat", "Works tickets past due"),
    "sla.risks": ("Risiko putus sekolah tanpa tindak lanjut",
                  "Dropout risks without a case follow-up"),
    "sla.none": ("✓ Tidak ada", "✓ None"),
    "sla.more": ("… dan {count} lainnya", "… and {count} more"),
    "sla.col.household": ("Rumah tangga", "Household"),
    "sla.col.waiting": ("Menunggu", "Waiting"),
    "sla.col.needs": ("Kebutuhan tanpa tiket", "Needs without a ticket"),
    "sla.col.need": ("Kebutuhan", "Need"),
    "sla.col.due": ("Tenggat", "Due"),
    "sla.col.overdue": ("Terlambat", "Overdue"),
    "sla.col.child": ("Anak", "Child"),
    "sla.col.attendance": ("Kehadiran", "Attendance"),
    "sla.hours": ("{hours} jam", "{hours} h"),
    "sla.days": ("{days} hari", "{days} days"),
    "sla.day": ("{days} hari", "{days} day"),
    "stage.registered": ("Terdaftar", "Registered"),
    "stage.flagged": ("Ditandai RTLH", "Housing flagged"),
    "stage.housing_fixed": ("Rumah tuntas", "Housing fixed"),
    "stage.in_school": ("Bersekolah (PKH)", "In school (PKH)"),
    "stage.grant": ("Bantuan usaha", "Business grant"),
    "stage.graduated": ("Graduasi", "Graduated"),
    "need.clean_water_connection": ("sambungan air bersih", "clean-water connection"),
    "need.sanitation": ("sanitasi (jamban sehat)", "sanitation (healthy latrine)"),
    "need.house_rehabilitation": ("rehabilitasi rumah", "house rehabilitation"),
    "resolution.completed": ("dikerjakan", "completed"),
    "resolution.rejection_acknowledged": ("penolakan diterima", "rejection acknowledged"),
    "reason.unclear_land_status": ("status lahan tidak jelas", "unclear land status"),
    "reason.duplicate": ("duplikat", "duplicate"),
    "reason.outside_service_area": ("di luar wilayah layanan", "outside the service area"),
    "business.starting": ("baru mulai", "starting"),
    "business.running": ("berjalan", "running"),
    "business.growing": ("berkembang", "growing"),
    "business.stalled": ("macet", "stalled"),
    "business.closed": ("tutup", "closed"),
    "income.above": ("di atas/sama dengan", "at/above"),
    "income.below": ("di bawah", "below"),
    "late": (" (melewati tenggat)", " (past due)"),
}

# Event type -> ((label, summary) in Indonesian, (label, summary) in English); summaries are
# formatted with the entry's data after ``_values`` has made it readable.
EVENTS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "social.household.registered.v1": (
        ("Pendaftaran rumah tangga", "Terdaftar di {region}, {member_count} anggota keluarga"),
        ("Household registered", "Registered in {region} with {member_count} members")),
    "social.housing.assessed.v1": (
        ("Penilaian rumah", "Kondisi rumah dinilai: {needs} ({floor_area_per_person_m2} m² "
                            "per orang)"),
        ("Housing assessed", "Housing assessed: {needs} ({floor_area_per_person_m2} m² "
                             "per person)")),
    "social.housing.flagged.v1": (
        ("Rumah ditandai (RTLH)", "Ditandai untuk Dinas PUPR: {needs} (desa/kelurahan {village})"),
        ("Housing flagged", "Flagged for Public Works: {needs} (village {village})")),
    "social.housing.resolved.v1": (
        ("Kebutuhan rumah selesai", "{need} selesai ({resolution}); {open_needs} masih terbuka"),
        ("Housing need resolved", "{need} resolved ({resolution}); {open_needs} still open")),
    "social.education.referred.v1": (
        ("Rujukan pendidikan", "{children} anak usia sekolah dirujuk ke Disdik (PKH)"),
        ("Education referral", "School-age children referred to Education (PKH): {children}")),
    "social.grant.eligible.v1": (
        ("Layak bantuan usaha", "Layak bantuan usaha: pendapatan {monthly_income} di bawah "
                                "garis kemiskinan {poverty_line}"),
        ("Grant eligibility", "Eligible for a business grant: income {monthly_income} under "
                              "the poverty line {poverty_line}")),
    "social.grant.awarded.v1": (
        ("Bantuan usaha diberikan", "Bantuan usaha {amount} untuk {business_type}, "
                                    "pendamping {mentor}"),
        ("Business grant awarded", "Business grant {amount} for {business_type}, "
                                   "mentor {mentor}")),
    "social.mentoring.visited.v1": (
        ("Kunjungan pendampingan", "Usaha {business_status}, omzet {monthly_revenue}/bulan"),
        ("Mentoring visit", "Business {business_status}, revenue {monthly_revenue}/month")),
    "social.income.reported.v1": (
        ("Laporan pendapatan", "Pendapatan {monthly_income} {side} garis kemiskinan "
                               "({consecutive_at_or_above_line} laporan berturut-turut)"),
        ("Income report", "Income {monthly_income} {side} the poverty line "
                          "({consecutive_at_or_above_line} consecutive reports)")),
    "social.case.follow_up_opened.v1": (
        ("Tindak lanjut kasus", "Tindak lanjut dibuka untuk anak {person} yang berisiko "
                                "putus sekolah"),
        ("Case follow-up", "Follow-up opened for child {person} at dropout risk")),
    "social.household.graduated.v1": (
        ("Graduasi", "Lulus dari bantuan sosial pada {graduated_on}: bansos dihentikan"),
        ("Graduation", "Graduated from assistance on {graduated_on}: bansos ends")),
    "public_works.ticket.opened.v1": (
        ("Tiket dibuka", "Tiket {ticket} dibuka untuk {need}, tenggat {due_on}"),
        ("Ticket opened", "Works ticket {ticket} opened for {need}, due {due_on}")),
    "public_works.ticket.scheduled.v1": (
        ("Tiket dijadwalkan", "Tiket {ticket} ({need}) dijadwalkan {scheduled_on}"),
        ("Ticket scheduled", "Works ticket {ticket} ({need}) scheduled for {scheduled_on}")),
    "public_works.ticket.started.v1": (
        ("Pekerjaan dimulai", "Pekerjaan {need} dimulai {started_on}"),
        ("Work started", "Work on {need} started {started_on}")),
    "public_works.ticket.completed.v1": (
        ("Pekerjaan selesai", "Pekerjaan {need} selesai {completed_on}{late}"),
        ("Work completed", "Work on {need} completed {completed_on}{late}")),
    "public_works.ticket.rejected.v1": (
        ("Tiket ditolak", "Tiket {need} ditolak: {reason}"),
        ("Ticket rejected", "Works ticket for {need} rejected: {reason}")),
    "education.pupil.enrolled.v1": (
        ("Pendaftaran sekolah", "Anak {person} terdaftar dukungan pendidikan PKH ({level})"),
        ("Pupil enrolled", "Child {person} enrolled for PKH education support ({level})")),
    "education.attendance.alert.v1": (
        ("Peringatan kehadiran", "Anak {person} hadir {attendance_pct}% pada {month}"),
        ("Attendance alert", "Child {person} attended {attendance_pct}% in {month}")),
    "education.dropout.risk.v1": (
        ("Risiko putus sekolah", "Anak {person} hadir di bawah 85% selama {months_below} bulan"),
        ("Dropout risk", "Child {person} under 85% attendance for {months_below} months")),
    "education.pupil.reengaged.v1": (
        ("Kembali bersekolah", "Anak {person} kembali aktif ({attendance_pct}% pada {month})"),
        ("Pupil re-engaged", "Child {person} re-engaged ({attendance_pct}% in {month})")),
}

MONTHS = {"id": "Jan Feb Mar Apr Mei Jun Jul Agu Sep Okt Nov Des".split(),
          "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()}


def lang_of(value: str | None) -> str:
    """The page language asked for, or Indonesian."""
    return value if value in LANGS else DEFAULT_LANG


def t(key: str, lang: str, **values: Any) -> str:
    indonesian, english = TEXT[key]
    text = english if lang == "en" else indonesian
    return text.format(**values) if values else text


def day(value: date | str, lang: str) -> str:
    d = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{d.day} {MONTHS[lang][d.month - 1]} {d.year}"


def clock(value: datetime | str, lang: str) -> str:
    """A moment as East Kalimantan staff read it: day and time in WITA."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = moment.astimezone(WITA)
    return f"{day(local.date(), lang)} {local:%H:%M}"


def month(value: str, lang: str) -> str:
    """``YYYY-MM`` as a reader writes it: "Feb 2020"."""
    year, number = value.split("-")
    return f"{MONTHS[lang][int(number) - 1]} {year}"


def number(value: float, lang: str) -> str:
    """A decimal number with Indonesian's decimal comma, or English's point."""
    text = f"{value:g}"
    return text.replace(".", ",") if lang == "id" else text


def days(count: int, lang: str) -> str:
    return t("sla.day" if count == 1 else "sla.days", lang, days=count)


def rupiah(amount: int) -> str:
    return f"Rp {amount:,}".replace(",", ".")


def region(code: str | None) -> str:
    known = kaltim_regions().get(code or "")
    return f"{known.name} ({code})" if known else (code or "—")


def short(ref: str, keep: int = 6) -> str:
    return f"…{ref[-keep:]}"


def needs_text(needs: list[str], lang: str) -> str:
    return ", ".join(t(f"need.{n}", lang) for n in needs) or t("status.housing.none", lang)


def event_label(event_type: str, lang: str) -> str:
    texts = EVENTS.get(event_type)
    return texts[lang == "en"][0] if texts else event_type


def _values(data: Mapping[str, Any], lang: str) -> dict[str, Any]:
    v = dict(data)
    money = ("monthly_income", "poverty_line", "amount", "monthly_revenue")
    v.update({k: rupiah(data[k]) for k in money if k in data})
    v.update({k: day(data[k], lang) for k in data if k.endswith("_on")})
    v.update({k: number(data[k], lang) for k in ("floor_area_per_person_m2", "attendance_pct")
              if k in data})
    if "month" in data:
        v["month"] = month(data["month"], lang)
    lookups = {"need": "need", "resolution": "resolution", "reason": "reason",
               "business_status": "business"}
    v.update({k: t(f"{prefix}.{data[k]}", lang) for k, prefix in lookups.items() if k in data})
    if "needs" in data:
        v["needs"] = needs_text(data["needs"], lang)
    if "region_code" in data:
        v["region"] = region(data["region_code"])
    if "person_ref" in data:
        v["person"] = short(data["person_ref"])
    if "ticket_id" in data:
        v["ticket"] = short(str(data["ticket_id"]), 8)
    if isinstance(data.get("children"), list):
        v["children"] = len(data["children"])
    if "monthly_income" in data and "poverty_line" in data:
        above = data["monthly_income"] >= data["poverty_line"]
        v["side"] = t("income.above" if above else "income.below", lang)
    v["late"] = t("late", lang) if data.get("late") else ""
    return v


def summary(event_type: str, data: Mapping[str, Any], lang: str, stored: str) -> str:
    """The entry's summary in ``lang``; the stored one if its data doesn't fit the template."""
    texts = EVENTS.get(event_type)
    if texts is None:
        return stored
    try:
        return texts[lang == "en"][1].format_map(_values(data, lang))
    except (KeyError, ValueError, TypeError):
        return stored
