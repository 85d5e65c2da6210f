"""The templates casekit ships for its built-in kinds, in English and French."""

from __future__ import annotations

from casekit.notify._kinds import Template

__all__ = ["BUILTIN_TEMPLATES"]

_CASE_LINK = "{% if links.case %}\n{{ links.case }}\n{% endif %}"
_CASE_LINK_HTML = (
    '{% if links.case %}<p><a href="{{ links.case }}">{{ case.id }}</a></p>{% endif %}'
)


def _t(kind: str, locale: str, subject: str, text: str, html: str | None = None) -> Template:
    return Template(kind=kind, locale=locale, subject=subject, text=text, html=html)


_EN = (
    _t(
        "case.acknowledged",
        "en",
        "[{{ case.id }}] We received your request: {{ case.subject }}",
        'Hello {{ recipient.name }},\n\nWe received your request "{{ case.subject }}" '
        "and opened case {{ case.id }}. We will get back to you soon.\n" + _CASE_LINK,
        "<p>Hello {{ recipient.name }},</p><p>We received your request "
        "<strong>{{ case.subject }}</strong> and opened case {{ case.id }}. "
        "We will get back to you soon.</p>" + _CASE_LINK_HTML,
    ),
    _t(
        "case.assigned",
        "en",
        "[{{ case.id }}] Assigned to you: {{ case.subject }} ({{ case.priority }})",
        "Case {{ case.id }} ({{ case.priority }} priority, {{ case.channel }}) is now yours:\n"
        "{{ case.subject }}\n" + _CASE_LINK,
    ),
    _t(
        "case.reply",
        "en",
        "[{{ case.id }}] Re: {{ case.subject }}",
        "Hello {{ recipient.name }},\n\n{{ event.body }}\n" + _CASE_LINK,
    ),
    _t(
        "case.awaiting_info",
        "en",
        "[{{ case.id }}] We need more information: {{ case.subject }}",
        "Hello {{ recipient.name }},\n\nTo go on with case {{ case.id }} we need more "
        "information from you.{% if event.reason %}\n\n{{ event.reason }}{% endif %}\n"
        "Just reply to this message.\n" + _CASE_LINK,
    ),
    _t(
        "case.resolved",
        "en",
        "[{{ case.id }}] Resolved: {{ case.subject }}",
        "Hello {{ recipient.name }},\n\nWe resolved case {{ case.id }}."
        "{% if case.resolution_notes %}\n\n{{ case.resolution_notes }}{% endif %}\n\n"
        "If this solves your problem, please accept the resolution; if not, reject it "
        "and we will reopen the case.\n" + _CASE_LINK,
        "<p>Hello {{ recipient.name }},</p><p>We resolved case {{ case.id }}.</p>"
        "{% if case.resolution_notes %}<p>{{ case.resolution_notes }}</p>{% endif %}"
        "<p>If this solves your problem, please accept the resolution; if not, reject it "
        "and we will reopen the case.</p>" + _CASE_LINK_HTML,
    ),
    _t(
        "case.closed",
        "en",
        "[{{ case.id }}] Closed: {{ case.subject }}: how did we do?",
        "Hello {{ recipient.name }},\n\nCase {{ case.id }} is now closed. Thank you for "
        "contacting us.{% if links.survey %}\n\nPlease tell us how we did: "
        "{{ links.survey }}{% endif %}\n",
        "<p>Hello {{ recipient.name }},</p><p>Case {{ case.id }} is now closed. Thank you "
        'for contacting us.</p>{% if links.survey %}<p><a href="{{ links.survey }}">'
        "Please tell us how we did</a>.</p>{% endif %}",
    ),
    _t(
        "case.progress",
        "en",
        "[{{ case.id }}] Progress: {{ task.title }}",
        "Hello {{ recipient.name }},\n\nA step of your request {{ case.id }} is done: "
        "{{ task.title }}.\n" + _CASE_LINK,
    ),
    _t(
        "playbook.notice",
        "en",
        "[{{ case.id }}] {{ case.subject }}",
        "Hello {{ recipient.name }},\n\n{{ event.message }}\n" + _CASE_LINK,
    ),
    _t(
        "task.assigned",
        "en",
        "[{{ case.id }}] Task for you: {{ task.title }}",
        "Task {{ task.id }} of case {{ case.id }} ({{ case.priority }} priority) is "
        "assigned to {{ recipient.name }}:\n{{ task.title }}\n" + _CASE_LINK,
    ),
    _t(
        "task.reminder",
        "en",
        "[{{ case.id }}] Still open: {{ task.title }}",
        "Task {{ task.id }} of case {{ case.id }} has been open since "
        "{{ task.created_at | when }}:\n{{ task.title }}\n" + _CASE_LINK,
    ),
    _t(
        "sla.warning",
        "en",
        "[{{ case.id }}] SLA warning: {{ sla.name }} due {{ sla.due_at | when }}",
        "Case {{ case.id }} ({{ case.priority }}): {{ sla.name }} has used "
        "{{ (sla.threshold * 100) | round | int }} % of its target and is due at "
        "{{ sla.due_at | when }}.\n{{ case.subject }}\n" + _CASE_LINK,
    ),
    _t(
        "sla.breached",
        "en",
        "[{{ case.id }}] SLA BREACHED: {{ sla.name }}",
        "Case {{ case.id }} ({{ case.priority }}): {{ sla.name }} was due at "
        "{{ sla.due_at | when }} and is breached.\n{{ case.subject }}\n" + _CASE_LINK,
    ),
    _t(
        "sla.escalated",
        "en",
        "[{{ case.id }}] Escalation level {{ sla.level }}: {{ sla.name }}",
        "Case {{ case.id }} ({{ case.priority }}) reached escalation level {{ sla.level }} "
        "of {{ sla.name }}: {{ sla.action }}.\n{{ case.subject }}\n" + _CASE_LINK,
    ),
    _t(
        "digest",
        "en",
        "{{ items | length }} updates on your requests",
        "Hello {{ recipient.name }},\n{% for item in items %}\n- {{ item.subject }}\n"
        "{{ item.text | indent(2, true) }}{% endfor %}\n",
    ),
)

_FR = (
    _t(
        "case.acknowledged",
        "fr",
        "[{{ case.id }}] Nous avons bien reçu votre demande : {{ case.subject }}",
        "Bonjour {{ recipient.name }},\n\nNous avons bien reçu votre demande "
        "« {{ case.subject }} » et ouvert le dossier {{ case.id }}. Nous revenons vers "
        "vous rapidement.\n" + _CASE_LINK,
        "<p>Bonjour {{ recipient.name }},</p><p>Nous avons bien reçu votre demande "
        "<strong>{{ case.subject }}</strong> et ouvert le dossier {{ case.id }}. Nous "
        "revenons vers vous rapidement.</p>" + _CASE_LINK_HTML,
    ),
    _t(
        "case.assigned",
        "fr",
        "[{{ case.id }}] Affecté à vous : {{ case.subject }} ({{ case.priority }})",
        "Le dossier {{ case.id }} (priorité {{ case.priority }}, {{ case.channel }}) vous "
        "est affecté :\n{{ case.subject }}\n" + _CASE_LINK,
    ),
    _t(
        "case.reply",
        "fr",
        "[{{ case.id }}] Re : {{ case.subject }}",
        "Bonjour {{ recipient.name }},\n\n{{ event.body }}\n" + _CASE_LINK,
    ),
    _t(
        "case.awaiting_info",
        "fr",
        "[{{ case.id }}] Nous avons besoin d'informations : {{ case.subject }}",
        "Bonjour {{ recipient.name }},\n\nPour poursuivre le traitement du dossier "
        "{{ case.id }}, nous avons besoin d'informations complémentaires."
        "{% if event.reason %}\n\n{{ event.reason }}{% endif %}\n"
        "Il vous suffit de répondre à ce message.\n" + _CASE_LINK,
    ),
    _t(
        "case.resolved",
        "fr",
        "[{{ case.id }}] Résolu : {{ case.subject }}",
        "Bonjour {{ recipient.name }},\n\nNous avons résolu le dossier {{ case.id }}."
        "{% if case.resolution_notes %}\n\n{{ case.resolution_notes }}{% endif %}\n\n"
        "Si votre problème est réglé, merci d'accepter la résolution ; sinon, refusez-la "
        "et nous rouvrirons le dossier.\n" + _CASE_LINK,
        "<p>Bonjour {{ recipient.name }},</p><p>Nous avons résolu le dossier "
        "{{ case.id }}.</p>{% if case.resolution_notes %}<p>{{ case.resolution_notes }}"
        "</p>{% endif %}<p>Si votre problème est réglé, merci d'accepter la résolution ; "
        "sinon, refusez-la et nous rouvrirons le dossier.</p>" + _CASE_LINK_HTML,
    ),
    _t(
        "case.closed",
        "fr",
        "[{{ case.id }}] Clos : {{ case.subject }} : votre avis nous intéresse",
        "Bonjour {{ recipient.name }},\n\nLe dossier {{ case.id }} est clos. Merci de nous "
        "avoir contactés.{% if links.survey %}\n\nDonnez-nous votre avis : "
        "{{ links.survey }}{% endif %}\n",
        "<p>Bonjour {{ recipient.name }},</p><p>Le dossier {{ case.id }} est clos. Merci "
        'de nous avoir contactés.</p>{% if links.survey %}<p><a href="{{ links.survey }}">'
        "Donnez-nous votre avis</a>.</p>{% endif %}",
    ),
    _t(
        "case.progress",
        "fr",
        "[{{ case.id }}] Avancement : {{ task.title }}",
        "Bonjour {{ recipient.name }},\n\nUne étape de votre demande {{ case.id }} est "
        "terminée : {{ task.title }}.\n" + _CASE_LINK,
    ),
    _t(
        "playbook.notice",
        "fr",
        "[{{ case.id }}] {{ case.subject }}",
        "Bonjour {{ recipient.name }},\n\n{{ event.message }}\n" + _CASE_LINK,
    ),
    _t(
        "task.assigned",
        "fr",
        "[{{ case.id }}] Tâche pour vous : {{ task.title }}",
        "La tâche {{ task.id }} du dossier {{ case.id }} (priorité {{ case.priority }}) est "
        "affectée à {{ recipient.name }} :\n{{ task.title }}\n" + _CASE_LINK,
    ),
    _t(
        "task.reminder",
        "fr",
        "[{{ case.id }}] Toujours ouverte : {{ task.title }}",
        "La tâche {{ task.id }} du dossier {{ case.id }} est ouverte depuis "
        "{{ task.created_at | when }} :\n{{ task.title }}\n" + _CASE_LINK,
    ),
    _t(
        "sla.warning",
        "fr",
        "[{{ case.id }}] Alerte SLA : {{ sla.name }}, échéance {{ sla.due_at | when }}",
        "Dossier {{ case.id }} ({{ case.priority }}) : {{ sla.name }} a consommé "
        "{{ (sla.threshold * 100) | round | int }} % de son objectif ; échéance "
        "{{ sla.due_at | when }}.\n{{ case.subject }}\n" + _CASE_LINK,
    ),
    _t(
        "sla.breached",
        "fr",
        "[{{ case.id }}] SLA DÉPASSÉ : {{ sla.name }}",
        "Dossier {{ case.id }} ({{ case.priority }}) : {{ sla.name }} était dû le "
        "{{ sla.due_at | when }} et est dépassé.\n{{ case.subject }}\n" + _CASE_LINK,
    ),
    _t(
        "sla.escalated",
        "fr",
        "[{{ case.id }}] Escalade niveau {{ sla.level }} : {{ sla.name }}",
        "Le dossier {{ case.id }} ({{ case.priority }}) a atteint le niveau d'escalade "
        "{{ sla.level }} de {{ sla.name }} : {{ sla.action }}.\n{{ case.subject }}\n" + _CASE_LINK,
    ),
    _t(
        "digest",
        "fr",
        "{{ items | length }} mises à jour de vos demandes",
        "Bonjour {{ recipient.name }},\n{% for item in items %}\n- {{ item.subject }}\n"
        "{{ item.text | indent(2, true) }}{% endfor %}\n",
    ),
)

BUILTIN_TEMPLATES: tuple[Template, ...] = (*_EN, *_FR)
