/**
 * Git backup of a Kestra instance with a native core: drop-in replacements for plugin-git's
 * PushFlows and PushNamespaceFiles. The package name starts with {@code io.kestra.plugin.git} on
 * purpose: Kestra applies {@code pluginDefaults} by plain type prefix, so an existing
 * {@code pluginDefaults: - type: io.kestra.plugin.git} keeps configuring these tasks.
 */
@PluginSubGroup(
    title = "Git backup",
    description = "Back up flows and namespace files to Git with a native core.",
    categories = PluginSubGroup.PluginCategory.TOOL
)
package io.kestra.plugin.git.backup;

import io.kestra.core.models.annotations.PluginSubGroup;
