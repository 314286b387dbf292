//! JNI bridge: the only module that imports `jni`. OWNER: Java helper.
