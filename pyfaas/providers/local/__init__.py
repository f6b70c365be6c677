"""The local provider: functions as supervised host processes on this machine.

from pyfaas.providers.local import LocalProvider, LocalProviderSettings

settings = LocalProviderSettings.from_env(os.environ)
provider = LocalProvider(StatePaths(home), settings)
await provider.start()
...
await provider.close()
"""

from pyfaas.providers.local.provider import LocalProvider
from pyfaas.providers.local.settings import LocalProviderSettings

__all__ = ["LocalProvider", "LocalProviderSettings"]
