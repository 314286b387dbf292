package io.kestra.plugin.git.backup;

import io.kestra.plugin.git.backup.internal.FieldNames;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class FieldNamesTest {
    @Test
    void theCoresRequestFieldsAreShownAsTaskProperties() {
        assertEquals("`url`: unsupported scheme `ftp`; use https://", FieldNames.asProperties("`git.url`: unsupported scheme `ftp`; use https://"));
        assertEquals("`mirrors[1].branch`: `a b` is not valid", FieldNames.asProperties("`git.mirrors[1].branch`: `a b` is not valid"));
        assertEquals("check that `kestraUrl` (http://k) is reachable", FieldNames.asProperties("check that `kestra.url` (http://k) is reachable"));
        assertEquals("`kestraUrl`: is missing", FieldNames.asProperties("`kestra`: is missing"));
        assertEquals("set `overwrite: true` to replace it; `flows[0]`; `cacheDirectory`; `gitConfig`; `maxDeletionRatio`",
            FieldNames.asProperties("set `restore.overwrite: true` to replace it; `restore.flows[0]`; `git.cacheDir`; `git.config`; `guard.maxDeletionRatio`"));
        assertEquals("`triggersDirectory`: `flows` overlaps", FieldNames.asProperties("`triggerState.gitDirectory`: `flows` overlaps"));
        assertEquals("`company.team/etl`, `gitlab.com` and `kestra:///a/b.bundle` stay",
            FieldNames.asProperties("`company.team/etl`, `gitlab.com` and `kestra:///a/b.bundle` stay"));
    }
}
