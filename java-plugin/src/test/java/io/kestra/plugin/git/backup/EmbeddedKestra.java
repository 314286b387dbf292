package io.kestra.plugin.git.backup;

import io.kestra.core.models.flows.FlowWithSource;
import io.kestra.core.models.triggers.AbstractTrigger;
import io.kestra.core.models.triggers.TriggerId;
import io.kestra.core.models.triggers.WorkerTriggerInterface;
import io.kestra.core.plugins.PluginRegistry;
import io.kestra.core.repositories.FlowRepositoryInterface;
import io.kestra.core.repositories.TriggerRepositoryInterface;
import io.kestra.core.scheduler.SchedulerConfiguration;
import io.kestra.core.scheduler.model.TriggerState;
import io.kestra.core.scheduler.store.TriggerStateStore;
import io.kestra.core.scheduler.vnodes.VNodes;
import io.kestra.core.runners.TestRunner;
import io.kestra.core.services.FlowService;
import io.kestra.core.services.InstanceService;
import io.kestra.core.storages.NamespaceFactory;
import io.kestra.core.storages.StorageInterface;
import io.kestra.core.utils.VersionProvider;
import io.micronaut.context.ApplicationContext;

import java.util.List;

/**
 * Kestra 2.0's in-process runtime (executor and worker, memory repository, local storage) for the
 * demo and the benchmark: the plugins folder loaded as a server loads it, and the API stand-in
 * answering PushFlows at the URL the build configured (`kestra.tasks.sdk.authentication`).
 */
final class EmbeddedKestra implements AutoCloseable {
    /** Held so the level set in `close` stays (java.util.logging keeps loggers weakly). */
    private static final java.util.logging.Logger GRPC_LOG = java.util.logging.Logger.getLogger("io.grpc");

    private final ApplicationContext context;
    private final KestraApiStandIn api;

    private EmbeddedKestra() throws Exception {
        ExampleInstance.loadPluginsFolder();
        context = ApplicationContext.builder().environments("test").start();
        KestraApiStandIn.Backing backing = new KestraApiStandIn.Backing(
            context.getBean(FlowRepositoryInterface.class), context.getBean(FlowService.class), context.getBean(NamespaceFactory.class),
            context.getBean(StorageInterface.class), context.getBean(InstanceService.class), context.getBean(VersionProvider.class));
        api = KestraApiStandIn.start(() -> backing);
        api.triggers = new TriggerApiStandIn(context);
        api.plugins = context.getBean(PluginRegistry.class);
        TestRunner runner = context.getBean(TestRunner.class);
        runner.setSchedulerEnabled(false);
        runner.run();
    }

    static EmbeddedKestra start() throws Exception {
        return new EmbeddedKestra();
    }

    <T> T bean(Class<T> type) {
        return context.getBean(type);
    }

    /**
     * The scheduler is off here (Schedule triggers must not fire during the demo and the
     * benchmark), so the `TriggerCreated` events FlowService sends when a flow is saved are never
     * turned into trigger states, and the triggers API would list none. This stores, for each
     * trigger the scheduler runs (`WorkerTriggerInterface`) that has no state yet, the state the
     * scheduler's event handler creates for a new trigger (`TriggerState.of` on the flow's vnode;
     * no next evaluation date, which only a running scheduler computes), through Kestra's trigger
     * repository, which is the scheduler's state store.
     */
    void registerTriggerStates() {
        TriggerStateStore store = (TriggerStateStore) bean(TriggerRepositoryInterface.class);
        int vnodes = bean(SchedulerConfiguration.class).vnodes();
        for (FlowWithSource flow : bean(FlowRepositoryInterface.class).findAllWithSource("main")) {
            for (AbstractTrigger trigger : flow.getTriggers() == null ? List.<AbstractTrigger>of() : flow.getTriggers()) {
                if (trigger instanceof WorkerTriggerInterface && store.findById(TriggerId.of(flow, trigger)).isEmpty()) {
                    store.save(TriggerState.of(flow, trigger, VNodes.computeVNodeFromFlow(flow, vnodes)));
                }
            }
        }
    }

    ExampleInstance exampleInstance() {
        return new ExampleInstance(bean(FlowService.class), bean(NamespaceFactory.class), bean(StorageInterface.class));
    }

    @Override
    public void close() {
        // While the runtime stops, its worker still tries to register with the closed dispatcher and
        // gRPC logs a SEVERE stack trace for it: noise at the end of the demo, not a failure.
        GRPC_LOG.setLevel(java.util.logging.Level.OFF);
        api.close();
        context.close();
    }

    interface Program {
        void run() throws Exception;
    }

    /** Runs a main program and ends the JVM either way: Kestra's runtime keeps non-daemon threads. */
    static void runThenExit(Program program) {
        int status = 1;
        try {
            program.run();
            status = 0;
        } catch (Throwable e) {
            e.printStackTrace();
        } finally {
            System.exit(status);
        }
    }
}
