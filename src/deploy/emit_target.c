/* SPDX-License-Identifier: MIT */
/* `ferry deploy --target kubernetes|systemd --emit DIR`: the deploy.yaml's settings
 * (service name, port, replicas, host, keys, alert thresholds) over the package's
 * own (name, version, resources), written by the emitters of include/ferry/emit.h
 * with the monitoring files beside them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/core.h"
#include "deploy_int.h"
#include "ferry/emit.h"
#include "ferry/package.h"

int fy_deploy_emit(const fy_deploy_spec *spec, fy_target target, const char *dir, const char *image,
                   const char *registry, fy_diag *d)
{
    fy_package *pkg = NULL;
    fy_manifest *own = NULL;
    const fy_manifest *man = NULL;
    char ref[1024], pkgpath[FY_DEPLOY_PATH_MAX], keys[FY_DEPLOY_PATH_MAX];
    int rc = FY_OK;
    if (target != FY_TARGET_KUBERNETES && target != FY_TARGET_SYSTEMD)
        return fy__diag_set(d, FY_EINVAL, "--emit writes kubernetes or systemd files");
    if (spec->package) {
        if ((rc = fy_package_open(&pkg, spec->package, d)))
            return rc;
        man = fy_package_manifest(pkg);
    } else {
        char mpath[FY_DEPLOY_PATH_MAX];
        struct stat st;
        if (stat(spec->manifest, &st) == 0 && S_ISDIR(st.st_mode))
            snprintf(mpath, sizeof mpath, "%s/ferry.yaml", spec->manifest);
        else
            snprintf(mpath, sizeof mpath, "%s", spec->manifest);
        if ((rc = fy_manifest_load(&own, mpath, d)))
            return rc;
        man = own;
    }
    fy_emit_opts o;
    memset(&o, 0, sizeof o);
    fy_emit_opts_from_manifest(man, &o);
    o.name = spec->service;
    o.port = spec->port;
    o.replicas = spec->replicas > 1 ? spec->replicas : 2;
    o.host = spec->host;
    o.alert_error_rate = spec->alert_error_rate;
    o.alert_p99_ms = spec->alert_p99_ms;
    o.alert_restarts = spec->alert_restarts;
    if (spec->keys_file)
        o.keys_file = realpath(spec->keys_file, keys) ? keys : spec->keys_file;
    if (spec->package && realpath(spec->package, pkgpath))
        o.package_path = pkgpath;
    else {
        snprintf(pkgpath, sizeof pkgpath, "/var/lib/ferry/%s-%s.ferry", man->name, man->version);
        o.package_path = pkgpath;
    }
    if (registry) {
        if (!pkg) {
            rc = fy__diag_set(d, FY_EINVAL,
                              "--registry names the image by the package: model.package must "
                              "name a .ferry file (or give --image REF)");
            goto done;
        }
        if ((rc = fy_emit_image_ref(pkg, registry, 0, ref, sizeof ref, d)))
            goto done;
        image = ref;
    }
    o.image = image;
    if (target == FY_TARGET_KUBERNETES && !o.image) {
        rc = fy__diag_set(d, FY_EINVAL,
                          "kubernetes needs the package's runnable image: --image REF or "
                          "--registry R (push it with skopeo first)");
        goto done;
    }
    rc = target == FY_TARGET_KUBERNETES ? fy_emit_kubernetes(&o, dir, d)
                                        : fy_emit_systemd(&o, dir, d);
    if (rc == FY_OK)
        rc = fy_emit_monitoring(&o, dir, d);
done:
    fy_package_free(pkg);
    fy_manifest_free(own);
    return rc;
}
