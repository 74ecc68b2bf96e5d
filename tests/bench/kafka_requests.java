/*
 * Requests a Kafka broker has served so far, by request type: attaches to
 * the broker's JVM (same user), starts its local JMX agent if needed, and
 * sums RequestsPerSec's Count over the request's versions. One
 * "TYPE COUNT" line per type. Used by tests/bench/bulk.sh.
 *
 * usage: java tests/bench/kafka_requests.java BROKER_PID
 */
import com.sun.tools.attach.VirtualMachine;
import java.util.Map;
import java.util.TreeMap;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

public class KafkaRequests {
	private static final String METRIC =
	    "kafka.network:type=RequestMetrics,name=RequestsPerSec,*";

	public static void main(String[] args) throws Exception {
		if (args.length != 1) {
			System.err.println("usage: kafka_requests.java BROKER_PID");
			System.exit(2);
		}
		VirtualMachine vm = VirtualMachine.attach(args[0]);
		String addr;
		try {
			addr = vm.startLocalManagementAgent();
		} finally {
			vm.detach();
		}
		try (JMXConnector c = JMXConnectorFactory.connect(new JMXServiceURL(addr))) {
			MBeanServerConnection s = c.getMBeanServerConnection();
			Map<String, Long> n = new TreeMap<>();
			for (ObjectName o : s.queryNames(new ObjectName(METRIC), null))
				n.merge(o.getKeyProperty("request"), (Long)s.getAttribute(o, "Count"),
					Long::sum);
			n.forEach((k, v) -> System.out.println(k + " " + v));
		}
	}
}
