"""The ~150 services apprise reaches (Slack, Teams, Telegram, Pushover, e-mail, ...).

Needs the optional extra: ``pip install 'casekit[apprise]'``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from casekit.exceptions import DeliveryFailed, InvalidAddress, InvalidValue
from casekit.notify._channel import Message
from casekit.notify.channels._common import check_name, check_printable

__all__ = ["AppriseChannel"]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # apprise loads its service plugins on first use; one imports imghdr, deprecated since
    # Python 3.11. That warning is for apprise's authors, not for casekit's hosts.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        yield


def _apprise() -> Any:
    try:
        with _quiet():
            import apprise  # noqa: PLC0415 - optional dependency, imported when used
    except ImportError:
        raise InvalidValue(
            "AppriseChannel needs the apprise package: pip install 'casekit[apprise]'",
            where="AppriseChannel",
        ) from None
    return apprise


class AppriseChannel:
    """Sends through `apprise <https://github.com/caronc/apprise>`_ to its services.

    Two ways to use it:

    * ``AppriseChannel()`` (``address_kind = "url"``): each message's address is an
      apprise URL (``tgram://bottoken/ChatID``, ``slack://...``), looked up per
      recipient in the host's address book;
    * ``AppriseChannel(urls=[...])`` (``address_kind = "any"``): every message goes to
      the configured services (an operations chat, say); its address is not used for
      routing, only checked to be printable.

    The message's subject is the notification's title and its text the body. apprise
    does not say why a service failed (its ``apprise`` logger does), so every failure is
    a transient :class:`DeliveryFailed`, retried up to the attempt limit. The dedupe key
    does not reach the services: delivery is at least once. Timeouts are set per URL
    (most services take ``?cto=`` and ``?rto=``, in seconds).

    Args:
        urls: The services to send every message to; none to use each address.
        name: The channel's name (``"apprise"``).

    Raises:
        InvalidValue: apprise is not installed, or a URL is not one it understands
            (``where`` is ``urls[i]``; the URL is not repeated, it may hold a token).
    """

    def __init__(self, urls: Sequence[str] = (), *, name: str = "apprise") -> None:
        self.name = check_name(name)
        if isinstance(urls, str):
            raise InvalidValue("give a list of URLs, not one string", where="urls")
        apprise = _apprise()
        for index, url in enumerate(urls):
            with _quiet():
                usable = isinstance(url, str) and apprise.Apprise.instantiate(url) is not None
            if not usable:
                raise InvalidValue("not an apprise URL apprise can use", where=f"urls[{index}]")
        self.urls = tuple(urls)
        self.address_kind = "any" if self.urls else "url"

    def check_address(self, address: str) -> None:
        """Refuse an address that is not an apprise URL (when no ``urls`` were given)."""
        check_printable(self.name, address)
        if self.urls:
            return
        apprise = _apprise()
        with _quiet():
            usable = apprise.Apprise.instantiate(address) is not None
        if not usable:
            raise InvalidAddress(
                "not an apprise URL (scheme://... of a service apprise supports)",
                where=f"{self.name}.address",
            )

    def send(self, message: Message) -> None:
        """Notify the services; raise a transient :class:`DeliveryFailed` if one fails."""
        apprise = _apprise()
        sender = apprise.Apprise()
        urls = self.urls or (message.address,)
        try:
            with _quiet():
                if not all(sender.add(url) for url in urls):
                    raise DeliveryFailed(self.name, "not an apprise URL", permanent=True)
                ok = sender.notify(body=message.text, title=message.subject)
        except DeliveryFailed:
            raise
        except Exception as error:  # a service plugin's bug is a failed attempt
            raise DeliveryFailed(self.name, f"apprise raised {error!r}") from error
        if not ok:
            raise DeliveryFailed(
                self.name,
                f"apprise could not notify {len(urls)} service(s); see the 'apprise' logger",
            )

    def __repr__(self) -> str:
        return f"AppriseChannel(name={self.name!r}, urls={len(self.urls)})"
