"""Catalogs beyond the default one, shared by the tests of the grammar and the modal."""

from __future__ import annotations

from bot.understand.catalog import DEFAULT_CATALOG, Catalog, OperationKind, ParamField

# TR-069's SetParameterValues, as a site would describe it: one value of a given type.
SET_KIND = OperationKind(
    keyword="set",
    operation_type="set_parameter_values",
    label="Set a parameter",
    syntax="set <parameter> to <value> on <devices>",
    example="set Device.ManagementServer.PeriodicInformInterval to 300 on cpe-0042",
    fields=(
        ParamField(
            name="parameter_name",
            label="Parameter",
            kind="name",
            required=True,
            default=None,
            placeholder="Device.ManagementServer.PeriodicInformInterval",
            word="",
        ),
        ParamField(
            name="value",
            label="Value",
            kind="value",
            required=True,
            default=None,
            placeholder="300",
            word="to",
            value_type="integer",
        ),
    ),
    fixed={},
)
# The other value types: a boolean after a name, a string and a number after the devices.
ENABLE_KIND = OperationKind(
    keyword="enable",
    operation_type="set_enable",
    label="Switch a parameter",
    syntax="enable <parameter> to <true|false> on <devices>",
    example="enable Device.WiFi.Radio.1.Enable to true on cpe-0042",
    fields=(
        ParamField(
            name="parameter_name",
            label="Parameter",
            kind="name",
            required=True,
            default=None,
            placeholder="Device.WiFi.Radio.1.Enable",
        ),
        ParamField(
            name="enabled",
            label="Enabled",
            kind="value",
            required=False,
            default=True,
            word="to",
            value_type="boolean",
        ),
    ),
    fixed={},
)
LABEL_KIND = OperationKind(
    keyword="label",
    operation_type="set_label",
    label="Label devices",
    syntax="label <devices> as <text> [weight <number>]",
    example='label cpe-0042 as "rack 4"',
    fields=(
        ParamField(
            name="text",
            label="Label",
            kind="value",
            required=True,
            default=None,
            placeholder="rack 4",
            word="as",
            value_type="string",
        ),
        ParamField(
            name="weight",
            label="Weight",
            kind="value",
            required=False,
            default=1.0,
            placeholder="2.5",
            word="weight",
            value_type="number",
        ),
    ),
    fixed={},
)
TR069_CATALOG = Catalog(kinds=(*DEFAULT_CATALOG.kinds, SET_KIND, ENABLE_KIND, LABEL_KIND))
