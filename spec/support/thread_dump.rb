# The backtrace of every live Ruby thread, for a run that hangs: where each
# thread waits is where to look.
module ThreadDump
  module_function

  def write(io = $stderr, title:)
    io.puts "", "=== #{title}: #{Thread.list.size} live Ruby threads ==="
    Thread.list.each do |thread|
      name = thread.name || (thread == Thread.main ? "main" : "unnamed")
      io.puts "--- thread #{name} (#{thread.status || "dead"})"
      io.puts((thread.backtrace || ["(no backtrace)"]).map { |line| "    #{line}" })
    end
    io.puts "=== end of threads ===", ""
    io.flush
  end
end
