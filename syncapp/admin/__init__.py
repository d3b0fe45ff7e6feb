"""The Django admin pages of the sync: records, runs, label mappings and API tokens.

"Sync now", "Retry failed issues" and "Forget" each show a confirmation page first and then
call the runs module. None of them waits for a run, because a run can take minutes.
Importing the modules registers their pages.
"""

from syncapp.admin import records, runs, tokens

__all__ = ["records", "runs", "tokens"]
