"""What every layer shares: the error type, atomic files and hashes, the registry, the config schema.

Nothing here knows about documents, noise, models or reports; every other package may import it.
"""
from .errors import DocrobustError, cap_problems, shown, suggest
from .files import (atomic_write_bytes, atomic_write_json, atomic_write_text, atomic_writer, check_io, check_output,
                    dumps_json, folder_built_beside, read_json, sha256_bytes, sha256_file, sha256_json,
                    temporary_beside)
from .plugins import (ENTRY_POINT_GROUP, Plugin, load_entry_points, load_plugin, load_plugins, loaded_plugins,
                      plugin_names)
from .registry import REQUIRED, Option, Registry, first_paragraph, signature_options
from .schema import (Check, Pattern, Range, field_help, json_schema, missing_keys, plain_type, table_defaults,
                     table_problems, type_name, type_ok, value_problems)

__all__ = ["Check", "DocrobustError", "ENTRY_POINT_GROUP", "Option", "Pattern", "Plugin", "REQUIRED", "Range",
           "Registry", "atomic_write_bytes", "atomic_write_json", "atomic_write_text", "atomic_writer",
           "cap_problems", "check_io", "check_output", "dumps_json", "field_help", "first_paragraph",
           "folder_built_beside", "json_schema", "load_entry_points", "load_plugin", "load_plugins",
           "loaded_plugins", "missing_keys", "plain_type", "plugin_names", "read_json", "sha256_bytes",
           "sha256_file", "sha256_json", "shown", "signature_options", "suggest", "table_defaults",
           "table_problems", "temporary_beside", "type_name", "type_ok", "value_problems"]
